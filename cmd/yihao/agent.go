package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/yihao-city/yihao/ticketing"
)

const agentUsage = `usage:
  yihao agent add --ext EXT --password PASSWORD|- [--name NAME] [--skills 12345,12319]
  yihao agent list
  yihao agent remove --ext EXT

--password - reads the password from the first line of standard input, out
of the shell history and the process list. The password must be at least 10
characters, not digits only, not contain the extension, not repeat one
character and not be one of the commonest: anyone who reaches the SIP port
can try it. Only the digest secret HA1 of
ext:realm:password is stored (realm: sip.realm in the configuration); adding
an extension again replaces its name, skills and password.`

// agentCommand manages the agents' SIP accounts (坐席). It never prints a
// password or an HA1.
func agentCommand(ctx context.Context, cfg Config, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("agent: missing command (add, list or remove)\n%s", agentUsage)
	}
	switch args[0] {
	case "add":
		return agentAdd(ctx, cfg, args[1:], stdin, stdout, stderr)
	case "list":
		return agentList(ctx, cfg, args[1:], stdout, stderr)
	case "remove":
		return agentRemove(ctx, cfg, args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown agent command %q\n%s", args[0], agentUsage)
}

func agentAdd(ctx context.Context, cfg Config, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("yihao agent add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ext := fs.String("ext", "", "extension, 2 to 16 digits: the SIP user name")
	password := fs.String("password", "", `the SIP password, or "-" to read it from standard input`)
	name := fs.String("name", "", "display name")
	skills := fs.String("skills", "", "comma-separated lines or skills the agent takes (default: all)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("agent add: unexpected arguments %q", fs.Args())
	}
	pw, err := readPassword(*password, stdin)
	if err != nil {
		return fmt.Errorf("agent add: %w", err)
	}
	if err := ticketing.CheckAgentPassword(*ext, pw); err != nil {
		return fmt.Errorf("agent add: %w", err)
	}
	now := time.Now()
	a := &ticketing.Agent{Ext: *ext, Name: *name, Realm: cfg.SIP.Realm, HA1: ticketing.HA1(*ext, cfg.SIP.Realm, pw),
		Skills: splitList(*skills), CreatedAt: now, UpdatedAt: now}
	if err := a.Validate(); err != nil {
		return fmt.Errorf("agent add: %w", err)
	}
	store, closeStore, _, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	verb := "updated"
	if _, err := store.AgentByExt(ctx, a.Ext); errors.Is(err, ticketing.ErrNotFound) {
		verb = "added"
	} else if err != nil {
		return err
	}
	if err := store.PutAgent(ctx, a); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s agent %s (realm %s)\n", verb, a.Ext, a.Realm)
	return nil
}

// splitList reads a comma-separated list (skills, cells), dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func agentList(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("yihao agent list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	store, closeStore, _, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	agents, err := store.Agents(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "EXT\tNAME\tREALM\tSKILLS\tUPDATED")
	for _, a := range agents {
		skills := strings.Join(a.Skills, ",")
		if skills == "" {
			skills = "(all)"
		}
		name := a.Name
		if name == "" {
			name = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.Ext, name, a.Realm, skills, a.UpdatedAt.Local().Format("2006-01-02 15:04"))
	}
	return tw.Flush()
}

func agentRemove(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("yihao agent remove", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ext := fs.String("ext", "", "extension of the agent to remove")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *ext == "" {
		return errors.New("agent remove: --ext is required")
	}
	store, closeStore, _, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	if err := store.DeleteAgent(ctx, *ext); err != nil {
		if errors.Is(err, ticketing.ErrNotFound) {
			return fmt.Errorf("agent remove: no agent with extension %q", *ext)
		}
		return err
	}
	fmt.Fprintf(stdout, "removed agent %s\n", *ext)
	return nil
}

// readPassword is the --password flag's value, or the first line of stdin
// when it is "-" (out of the shell history and the process list).
func readPassword(flagValue string, stdin io.Reader) (string, error) {
	pw := flagValue
	if pw == "-" {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read the password: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	if pw == "" {
		return "", errors.New("--password is required (or --password - to read it from standard input)")
	}
	return pw, nil
}
