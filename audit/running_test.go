package audit

import (
	"testing"
	"time"
)

func TestTransportStates(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	recs := []Record{
		{Time: at(0), Kind: KindStart},
		{Time: at(1), Kind: KindAlert, Action: "transport_down", Route: "discord", Error: "old run"},
		{Time: at(2), Kind: KindStop},
		{Time: at(3), Kind: KindStart},
		{Time: at(4), Kind: KindAlert, Action: "transport_up", Route: "telegram"},
		{Time: at(5), Kind: KindAlert, Action: "transport_down", Route: "telegram", Error: "409 first"},
		{Time: at(6), Kind: KindAlert, Action: "transport_down", Route: "telegram", Error: "409 again"},
		{Time: at(7), Kind: KindCommand, Action: "status"},
	}
	got := TransportStates(recs)
	want := map[string]TransportState{"telegram": {State: "down", Error: "409 again", Since: at(5)}}
	if len(got) != len(want) || got["telegram"] != want["telegram"] {
		t.Errorf("TransportStates = %+v, want %+v (discord's state is from an earlier run)", got, want)
	}
}

func TestRunning(t *testing.T) {
	dir := t.TempDir()
	if ok, err := Running(dir); ok || err != nil {
		t.Errorf("Running on an unused directory = %v, %v; want false", ok, err)
	}
	if ok, err := Running(dir + "/missing"); ok || err != nil {
		t.Errorf("Running on a missing directory = %v, %v; want false, nil", ok, err)
	}
	j, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := Running(dir); !ok || err != nil {
		t.Errorf("Running while the journal is open = %v, %v; want true", ok, err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if ok, err := Running(dir); ok || err != nil {
		t.Errorf("Running after Close = %v, %v; want false", ok, err)
	}
}
