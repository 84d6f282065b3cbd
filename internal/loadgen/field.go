package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// benchField runs `yihao bench field`: the grid supervisors' phones as the
// server sees them. Each token of --tokens is one supervisor (a bearer
// token acting for a supervisor user); the positions phase sends n
// positions from c clients at once, each from the next supervisor at a
// random point of --box; the tasks phase reads each supervisor's task
// list's first page n times. Every answer must be 200.
func benchField(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("yihao bench field", flag.ContinueOnError)
	fs.SetOutput(stdout)
	base := fs.String("url", "http://127.0.0.1:8080", "base URL of a running server")
	tokensFile := fs.String("tokens", "", "file of supervisors' bearer tokens, one per line")
	box := fs.String("box", "39.86,116.30,39.96,116.46", "south,west,north,east of the city's grid (default: the demo city's)")
	n := fs.Int("n", 20000, "positions to send")
	tasks := fs.Int("tasks", 2000, "task lists to read (0: none)")
	c := fs.Int("c", 16, "concurrent clients")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return fmt.Errorf("bench field: unexpected arguments %q", fs.Args())
	case *tokensFile == "":
		return errors.New("bench field: --tokens is required")
	case *n < 0 || *tasks < 0 || *c < 1:
		return errors.New("bench field: --n and --tasks must be at least 0, --c at least 1")
	}
	edges, err := parseBox(*box)
	if err != nil {
		return err
	}
	tokens, err := readLines(*tokensFile)
	if err != nil {
		return err
	}
	if len(tokens) == 0 {
		return fmt.Errorf("bench field: %s holds no token", *tokensFile)
	}
	b := strings.TrimRight(*base, "/")
	tr := &http.Transport{MaxIdleConnsPerHost: *c}
	cl := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	defer tr.CloseIdleConnections()

	if *n > 0 {
		fmt.Fprintf(stdout, "positions: %d from %d supervisors\n", *n, len(tokens))
		timed(ctx, stdout, *c, *n, func(i int) (int, error) {
			// A fresh source per request: math/rand/v2's generators are not
			// safe for concurrent use, and this one costs nothing to make.
			r := mrand.New(mrand.NewPCG(uint64(i), 0x5eed))
			lat := edges[0] + r.Float64()*(edges[2]-edges[0])
			lon := edges[1] + r.Float64()*(edges[3]-edges[1])
			body := fmt.Appendf(nil, `{"lat":%.6f,"lon":%.6f}`, lat, lon)
			return send(ctx, cl, http.MethodPost, b+"/api/v1/field/positions", tokens[i%len(tokens)], body)
		})
	}
	if *tasks > 0 {
		fmt.Fprintf(stdout, "task lists: %d from %d supervisors\n", *tasks, len(tokens))
		timed(ctx, stdout, *c, *tasks, func(i int) (int, error) {
			return send(ctx, cl, http.MethodGet, b+"/api/v1/field/tasks", tokens[i%len(tokens)], nil)
		})
	}
	return nil
}

// timed runs fn n times from c clients and prints throughput, latency
// percentiles and every answer that was not 200.
func timed(ctx context.Context, stdout io.Writer, c, n int, fn func(i int) (int, error)) {
	lat := make([]time.Duration, 0, n)
	var mu sync.Mutex
	failures := map[string]int{}
	start := time.Now()
	forEach(ctx, c, n, 0, func(i int) {
		t0 := time.Now()
		status, err := fn(i)
		d := time.Since(t0)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err != nil:
			failures[errReason(err)]++
		case status != http.StatusOK:
			failures[strconv.Itoa(status)]++
		default:
			lat = append(lat, d)
		}
	})
	printSummary(stdout, n, len(lat), 0, time.Since(start), lat)
	printReasons(stdout, "failures", failures)
}

// send makes one request with a bearer token and reads the answer whole.
func send(ctx context.Context, cl *http.Client, method, u, token string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := cl.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// parseBox reads "south,west,north,east".
func parseBox(s string) ([4]float64, error) {
	var out [4]float64
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return out, fmt.Errorf("bench field: --box %q: want south,west,north,east", s)
	}
	for i, p := range parts {
		v, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return out, fmt.Errorf("bench field: --box %q: %v", s, err)
		}
		out[i] = v
	}
	if out[0] >= out[2] || out[1] >= out[3] {
		return out, fmt.Errorf("bench field: --box %q: south must be below north and west before east", s)
	}
	return out, nil
}

// readLines reads the non-empty lines of a file.
func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}
