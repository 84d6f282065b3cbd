package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/yihao-city/yihao/ticketing"
)

// forwardCommand is `yihao forward status|dead|requeue`: what city IT needs
// to see and mend the delivery queues without a database shell.
func forwardCommand(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	const usage = "usage: yihao forward status | dead --endpoint NAME [--limit N] | requeue --id N"
	if len(args) == 0 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("yihao forward "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	endpoint := fs.String("endpoint", "", "the endpoint's name (from the forwarding config)")
	limit := fs.Int("limit", 50, "how many dead letters to list")
	id := fs.Int64("id", 0, "the delivery to requeue (from `yihao forward dead`)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	store, closeStore, _, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer closeStore()
	ds, ok := store.(ticketing.DeliveryStore)
	if !ok {
		return errors.New("forward: this store keeps no delivery queue")
	}
	switch args[0] {
	case "status":
		if len(cfg.Forwarding) == 0 {
			fmt.Fprintln(stdout, "no forwarding endpoints are configured")
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "endpoint\tpending\tdead\toldest pending")
		for _, e := range cfg.Forwarding {
			st, err := ds.DeliveryStats(ctx, e.Name)
			if err != nil {
				return err
			}
			oldest := "-"
			if !st.OldestPending.IsZero() {
				oldest = st.OldestPending.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", e.Name, st.Pending, st.Dead, oldest)
		}
		return tw.Flush()
	case "dead":
		if *endpoint == "" {
			return errors.New("forward dead: --endpoint is required")
		}
		dead, err := ds.DeadLetters(ctx, *endpoint, *limit)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "id\tticket\ttopic\tattempts\tmessage time\tlast error")
		for _, d := range dead {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.Number, d.Topic, d.Attempt, d.MessageAt.Format(time.RFC3339), d.LastError)
		}
		return tw.Flush()
	case "requeue":
		if *id == 0 {
			return errors.New("forward requeue: --id is required")
		}
		if err := ds.Requeue(ctx, *id, time.Now()); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "delivery %d requeued\n", *id)
		return nil
	}
	return errors.New(usage)
}

// queueCollector reports each endpoint's queue on every scrape, so an
// outage shows as a growing pending count and a dead letter as an alert.
type queueCollector struct {
	store     ticketing.DeliveryStore
	endpoints []string
	pending   *prometheus.Desc
	dead      *prometheus.Desc
	age       *prometheus.Desc
}

func newQueueCollector(store ticketing.DeliveryStore, endpoints []string) *queueCollector {
	return &queueCollector{store: store, endpoints: endpoints,
		pending: prometheus.NewDesc("yihao_deliveries_pending", "Deliveries neither delivered nor dead, by endpoint.", []string{"endpoint"}, nil),
		dead:    prometheus.NewDesc("yihao_deliveries_dead", "Deliveries in the dead-letter list, by endpoint.", []string{"endpoint"}, nil),
		age:     prometheus.NewDesc("yihao_deliveries_oldest_pending_seconds", "Age of the oldest pending delivery, by endpoint.", []string{"endpoint"}, nil),
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.dead
	ch <- c.age
}

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, e := range c.endpoints {
		st, err := c.store.DeliveryStats(ctx, e)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.pending, err)
			continue
		}
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(st.Pending), e)
		ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(st.Dead), e)
		age := 0.0
		if !st.OldestPending.IsZero() {
			age = time.Since(st.OldestPending).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(c.age, prometheus.GaugeValue, age, e)
	}
}
