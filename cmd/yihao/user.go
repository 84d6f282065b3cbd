package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/yihao-city/yihao/configs"
	"github.com/yihao-city/yihao/routing"
	"github.com/yihao-city/yihao/ticketing"
)

const userUsage = `usage:
  yihao user add --name NAME --role agent|dispatcher|liaison|supervisor|admin [--department CODE]
                 [--area CODE] [--cells CELL,CELL…] [--display-name NAME] --password PASSWORD|-
  yihao user list
  yihao user disable --name NAME

Names are 2 to 32 of a-z, 0-9, '.', '_' and '-'. A liaison needs --department,
a department code of the catalogue; other roles have none. A dispatcher or a
supervisor may have --area, a district, street or community of the
catalogue's areas: a district or street centre sees only that area's tickets.
No area is the city. A supervisor may have --cells, unit cells of the grid
within the area: their 核实 and 核查 tasks come from those cells only
(none: every cell of the area). Passwords have at
least 10 characters; --password - reads it from the first line of standard
input, out of the shell history and the process list. Only an argon2id hash
is stored. Adding a name again replaces its role, department, area, display
name and password and enables it. Disabling a user, or changing its role, deletes its
API tokens (yihao token create --user NAME makes new ones).`

// userCommand manages the staff who sign in to the desks. It never prints a
// password or a password hash.
func userCommand(ctx context.Context, cfg Config, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return fmt.Errorf("user: missing command (add, list or disable)\n%s", userUsage)
	}
	switch args[0] {
	case "add":
		return userAdd(ctx, cfg, args[1:], stdin, stdout, stderr)
	case "list":
		return userList(ctx, cfg, args[1:], stdout, stderr)
	case "disable":
		return userDisable(ctx, cfg, args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown user command %q\n%s", args[0], userUsage)
}

func userAdd(ctx context.Context, cfg Config, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("yihao user add", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "login name: 2 to 32 of a-z, 0-9, '.', '_', '-'")
	role := fs.String("role", "", "agent, dispatcher, liaison, supervisor or admin")
	dept := fs.String("department", "", "department code (liaisons only)")
	area := fs.String("area", "", "the centre's area: a district, street or community code (dispatchers and supervisors; none is the city)")
	cells := fs.String("cells", "", "the unit cells a supervisor works, comma separated, within the area (supervisors only; none: the whole area)")
	display := fs.String("display-name", "", "name shown on the desks")
	password := fs.String("password", "", `the password, or "-" to read it from standard input`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("user add: unexpected arguments %q", fs.Args())
	}
	pw, err := readPassword(*password, stdin)
	if err != nil {
		return fmt.Errorf("user add: %w", err)
	}
	hash, err := ticketing.HashPassword(pw)
	if err != nil {
		return fmt.Errorf("user add: %w", err)
	}
	u := &ticketing.User{Name: *name, DisplayName: *display, Role: ticketing.Role(*role), Department: *dept,
		Area: *area, Cells: splitList(*cells), PasswordHash: hash, UpdatedAt: time.Now()}
	if err := u.Validate(); err != nil {
		return fmt.Errorf("user add: %w", err)
	}
	if u.Role == ticketing.RoleLiaison {
		if err := checkDepartment(cfg, u.Department); err != nil {
			return fmt.Errorf("user add: %w", err)
		}
	}
	if u.Area != "" {
		if err := checkArea(cfg, u.Area); err != nil {
			return fmt.Errorf("user add: %w", err)
		}
	}
	if len(u.Cells) > 0 {
		r, _, err := loadRouting(routingFilesOf(cfg))
		if err != nil {
			return err
		}
		if err := r.CheckCells(u.Area, u.Cells); err != nil {
			return fmt.Errorf("user add: %w", err)
		}
	}
	store, closeStore, _, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	verb := "updated"
	if _, err := store.UserByName(ctx, u.Name); errors.Is(err, ticketing.ErrNotFound) {
		verb = "added"
	} else if err != nil {
		return err
	}
	if err := store.PutUser(ctx, u); err != nil {
		return err
	}
	what := string(u.Role)
	if u.Department != "" {
		what += " of " + u.Department
	}
	if u.Area != "" {
		what += " in " + u.Area
	}
	if len(u.Cells) > 0 {
		what += fmt.Sprintf(", %d cells", len(u.Cells))
	}
	fmt.Fprintf(stdout, "%s user %s (%s)\n", verb, u.Name, what)
	return nil
}

// checkDepartment refuses a department code the configured catalogue does
// not list, so a typo cannot leave a liaison with an empty inbox.
func checkDepartment(cfg Config, code string) error {
	cat, err := configuredCatalogue(cfg)
	if err != nil {
		return err
	}
	codes := make([]string, 0, len(cat.Departments))
	for _, d := range cat.Departments {
		if d.Code == code {
			return nil
		}
		codes = append(codes, d.Code)
	}
	return ticketing.Invalid("department", "%q is not in the catalogue (%s)", code, strings.Join(codes, ", "))
}

// configuredCatalogue loads the catalogue the configuration names (the
// demo's by default), for the checks of a command that does not serve.
func configuredCatalogue(cfg Config) (*routing.Catalogue, error) {
	b, err := read(cfg.Catalogue, configs.DemoCatalogue)
	if err != nil {
		return nil, err
	}
	cat, err := routing.LoadCatalogue(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nameOf(cfg.Catalogue, "demo catalogue"), err)
	}
	return cat, nil
}

// checkArea refuses an area the configured catalogue does not list, so a
// typo cannot leave a centre with an empty desk. Cells have no centre.
func checkArea(cfg Config, code string) error {
	cat, err := configuredCatalogue(cfg)
	if err != nil {
		return err
	}
	org, err := cat.Org()
	if err != nil {
		return fmt.Errorf("%s: %w", nameOf(cfg.Catalogue, "demo catalogue"), err)
	}
	if _, ok := org.Area(code); !ok {
		return ticketing.Invalid("area", "%q is not a district, street or community of the catalogue's areas", code)
	}
	return nil
}

func userList(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("yihao user list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	store, closeStore, _, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	users, err := store.Users(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tDEPARTMENT\tAREA\tCELLS\tSTATUS\tUPDATED\tDISPLAY NAME")
	for _, u := range users {
		status := "active"
		if u.Disabled {
			status = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Name, u.Role, orDash(u.Department), orDash(u.Area),
			orDash(strings.Join(u.Cells, ",")), status,
			u.UpdatedAt.Local().Format("2006-01-02 15:04"), orDash(u.DisplayName))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func userDisable(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("yihao user disable", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "login name of the user to disable")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *name == "" || fs.NArg() > 0 {
		return errors.New("usage: yihao user disable --name NAME")
	}
	store, closeStore, _, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	u, err := store.UserByName(ctx, *name)
	if errors.Is(err, ticketing.ErrNotFound) {
		return fmt.Errorf("user disable: no user named %q", *name)
	} else if err != nil {
		return err
	}
	if u.Disabled {
		fmt.Fprintf(stdout, "user %s is already disabled\n", u.Name)
		return nil
	}
	u.Disabled, u.UpdatedAt = true, time.Now()
	if err := store.PutUser(ctx, u); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "disabled user %s; its API tokens are deleted\n", u.Name)
	return nil
}

// userToken makes a token acting for the stored user userName, with its
// role (yihao token create --user). A --role that is not the user's is
// refused rather than silently ignored.
func userToken(ctx context.Context, store ticketing.Store, userName string, role ticketing.Role, name string) (string, *ticketing.Token, error) {
	u, err := store.UserByName(ctx, userName)
	if errors.Is(err, ticketing.ErrNotFound) {
		return "", nil, fmt.Errorf("token create: no user named %q (yihao user add)", userName)
	} else if err != nil {
		return "", nil, err
	}
	if role != "" && role != u.Role {
		return "", nil, fmt.Errorf("token create: user %s is %s, not %s; leave out --role", u.Name, u.Role, role)
	}
	secret, tok, err := ticketing.NewUserToken(u, name, time.Now())
	if err != nil {
		return "", nil, fmt.Errorf("token create: %w", err)
	}
	return secret, tok, nil
}
