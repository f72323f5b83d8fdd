package controller

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/kubestore"
)

// The plan evens out live gateways: from the most loaded, offline devices
// first, never a pinned one, never onto a dead gateway or past capacity or
// labels, at most budget online devices and limit in all; it stops when
// no gateway a device could go to has two fewer.
func TestPlanMoves(t *testing.T) {
	gw := func(name string, capacity int32, labels v1alpha1.Labels) v1alpha1.Gateway {
		return v1alpha1.Gateway{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.GatewaySpec{Capacity: capacity, Labels: labels}}
	}
	dev := func(name, gw string, online, pinned bool, labels v1alpha1.Labels) v1alpha1.Device {
		d := v1alpha1.Device{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.DeviceSpec{Gateway: v1alpha1.Name(gw), Labels: labels}}
		if !pinned {
			d.Annotations = map[string]string{kubestore.AnnotationAssignedBy: "wasmbed-controller"}
		}
		if online {
			d.Status.Phase = fleet.PhaseOnline
		}
		return d
	}
	live := liveness{Lease: true, Live: true}
	count := func(devs []v1alpha1.Device) map[string]int {
		c := map[string]int{}
		for _, d := range devs {
			c[string(d.Spec.Gateway)]++
		}
		return c
	}

	// 12 on gw-a (4 offline, 1 pinned), gw-b added: 6 each, offline first.
	var devs []v1alpha1.Device
	for i := range 12 {
		devs = append(devs, dev(fmt.Sprintf("d%02d", i), "gw-a", i >= 4, i == 11, nil))
	}
	gws := []v1alpha1.Gateway{gw("gw-a", 0, nil), gw("gw-b", 0, nil), gw("gw-dead", 0, nil)}
	lives := map[string]liveness{"gw-a": live, "gw-b": live, "gw-dead": {Lease: true}}
	c := count(devs)
	moves := planMoves(devs, gws, lives, c, 100, 100)
	if len(moves) != 6 || c["gw-a"] != 6 || c["gw-b"] != 6 {
		t.Fatalf("12 on gw-a, gw-b added: %d moves, counts %v", len(moves), c)
	}
	for i, m := range moves {
		if m.to != "gw-b" || m.from != "gw-a" || m.device.Name == "d11" || m.online != (i >= 4) {
			t.Fatalf("move %d: %s %s→%s online %v", i, m.device.Name, m.from, m.to, m.online)
		}
	}
	// Bounded: 2 online at most (the 4 offline go first), 5 in all.
	c = count(devs)
	if moves := planMoves(devs, gws, lives, c, 2, 5); len(moves) != 5 || moves[4].online != true || c["gw-b"] != 5 {
		t.Fatalf("budget 2, limit 5: %d moves, counts %v", len(moves), c)
	}
	c = count(devs)
	if moves := planMoves(devs, gws, lives, c, 0, 100); len(moves) != 4 {
		t.Fatalf("no budget for online devices: %d moves", len(moves))
	}
	// Balanced within one: nothing moves.
	c = map[string]int{"gw-a": 6, "gw-b": 5}
	if moves := planMoves(devs[:6], gws, lives, c, 100, 100); len(moves) != 0 {
		t.Fatalf("6 and 5: %d moves", len(moves))
	}
	// Labels and capacity: gw-n takes site=north devices only, at most 2.
	devs = devs[:0]
	for i := range 6 {
		labels := v1alpha1.Labels{}
		if i < 4 {
			labels["site"] = "north"
		}
		devs = append(devs, dev(fmt.Sprintf("d%d", i), "gw-a", false, false, labels))
	}
	gws = []v1alpha1.Gateway{gw("gw-a", 0, nil), gw("gw-n", 2, v1alpha1.Labels{"site": "north"})}
	lives = map[string]liveness{"gw-a": live, "gw-n": live}
	c = count(devs)
	moves = planMoves(devs, gws, lives, c, 100, 100)
	if len(moves) != 2 || c["gw-n"] != 2 {
		t.Fatalf("capacity 2: %d moves, counts %v", len(moves), c)
	}
	for _, m := range moves {
		if m.device.Spec.Labels["site"] != "north" {
			t.Fatalf("%s (no site=north) moved to gw-n", m.device.Name)
		}
	}
	// The devices of a dead gateway are the failover's, not the plan's.
	lives = map[string]liveness{"gw-a": {Lease: true}, "gw-n": live}
	c = count(devs)
	if moves := planMoves(devs, gws, lives, c, 100, 100); len(moves) != 0 {
		t.Fatalf("moved %d devices off a dead gateway", len(moves))
	}
}
