package postgres_test

import (
	"testing"

	"github.com/yihao-city/yihao/ticketing/postgres/pgtest"
	"github.com/yihao-city/yihao/ticketing/storetest"
)

func TestDeliveries(t *testing.T) {
	storetest.RunDeliveries(t, func(t *testing.T) storetest.DeliveryStore { return open(t, pgtest.SchemaURL(t)) })
}

func TestSharedDeliveries(t *testing.T) {
	u := pgtest.SchemaURL(t)
	storetest.SharedDeliveries(t, func(t *testing.T) storetest.DeliveryStore { return open(t, u) })
}
