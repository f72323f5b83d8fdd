package provider

import (
	"context"
	"sync"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// gatewayBackend is the standalone backend: the gateway's management API
// client, with the device reads of refreshes served in bulk (deviceReads).
type gatewayBackend struct {
	*apiv1.Client
	reads *deviceReads
}

// ReadDevice is GetDevice for refreshing what Terraform holds (a
// wasmbed_device's Read, an enrollment token opened at plan): served from the
// walk's device snapshot when there is one. Creating, and anything that
// writes after reading, reads with GetDevice, always from the gateway.
func (b *gatewayBackend) ReadDevice(ctx context.Context, name string) (fleet.Device, error) {
	return b.reads.get(ctx, name)
}

// readDevice reads a device for a refresh: from the backend's snapshot when
// it keeps one (gatewayBackend), else with GetDevice.
func readDevice(ctx context.Context, b Backend, name string) (fleet.Device, error) {
	if r, ok := b.(interface {
		ReadDevice(context.Context, string) (fleet.Device, error)
	}); ok {
		return r.ReadDevice(ctx, name)
	}
	return b.GetDevice(ctx, name)
}

// Bulk device reads. Terraform refreshes each resource with its own Read, so
// a plan of 1,000 wasmbed_device resources was 1,000 GET /v1/devices/{name}.
// One provider process serves one CLI walk (Configure makes a new backend
// each time), so deviceReads serves the reads of one walk:
//
//   - the first deviceReadsBulkAfter reads go to the gateway one by one (a
//     small configuration never lists the fleet);
//   - past them, while this client has written nothing, one paged GET
//     /v1/devices (1,000 devices a page, at most deviceReadsMaxPages pages)
//     becomes a snapshot, and the reads that follow are answered from it;
//   - a write of this client (any request but a GET: Client.Writes) during
//     or after the list drops the snapshot and starts the count again, so a
//     read after a write, of any resource, goes to the gateway; so does a
//     read after deviceReadsTTL;
//   - a device the snapshot lacks is read on its own (created since the
//     list, beyond its last page, or gone: then the gateway's 404 says so).
//
// A snapshot is at most deviceReadsTTL old: what a refresh of one resource
// after another would also have seen, a few seconds apart. Changes made
// outside Terraform before the plan (drift) are in it.
const (
	deviceReadsBulkAfter = 32
	deviceReadsMaxPages  = 20
	deviceReadsTTL       = 30 * time.Second
)

type deviceReads struct {
	client *apiv1.Client
	now    func() time.Time

	mu      sync.Mutex
	reads   int    // reads since the count started
	counted uint64 // client.Writes() when the count started
	snap    *deviceSnapshot
	loading chan struct{} // closed when the list in progress ends
}

type deviceSnapshot struct {
	devices map[string]fleet.Device
	writes  uint64 // client.Writes() before the list started
	at      time.Time
}

func newDeviceReads(c *apiv1.Client) *deviceReads {
	return &deviceReads{client: c, now: time.Now, counted: c.Writes()}
}

func (r *deviceReads) get(ctx context.Context, name string) (fleet.Device, error) {
	if d, ok := r.lookup(ctx, name); ok {
		return d, nil
	}
	return r.client.GetDevice(ctx, name)
}

// lookup answers from the snapshot, listing the fleet first when the reads
// so far call for it; false: read the device from the gateway.
func (r *deviceReads) lookup(ctx context.Context, name string) (fleet.Device, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.loading != nil { // another read is listing: wait for its snapshot
		ch := r.loading
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			r.mu.Lock()
			return fleet.Device{}, false
		}
		r.mu.Lock()
	}
	if d, ok, valid := r.fromSnapshot(name); valid {
		return d, ok
	}
	r.snap = nil
	if w := r.client.Writes(); w != r.counted {
		r.reads, r.counted = 0, w // a write: count again from here
	}
	r.reads++
	if r.reads <= deviceReadsBulkAfter {
		return fleet.Device{}, false
	}
	ch := make(chan struct{})
	r.loading = ch
	r.mu.Unlock()
	snap := r.list(ctx)
	r.mu.Lock()
	r.loading = nil
	close(ch)
	r.snap, r.reads = snap, 0
	d, ok, _ := r.fromSnapshot(name)
	return d, ok
}

// fromSnapshot looks name up; valid is false without a usable snapshot
// (none, too old, or this client wrote since it was taken). r.mu is held.
func (r *deviceReads) fromSnapshot(name string) (d fleet.Device, ok, valid bool) {
	s := r.snap
	if s == nil || r.client.Writes() != s.writes || r.now().Sub(s.at) > deviceReadsTTL {
		return fleet.Device{}, false, false
	}
	d, ok = s.devices[name]
	return d, ok, true
}

// list takes a snapshot of the fleet's devices; nil if listing fails or
// this client wrote meanwhile (the reads then go to the gateway one by one).
func (r *deviceReads) list(ctx context.Context) *deviceSnapshot {
	s := &deviceSnapshot{devices: map[string]fleet.Device{}, writes: r.client.Writes(), at: r.now()}
	err := r.client.ListDevicePages(ctx, apiv1.DeviceFilter{}, deviceReadsMaxPages, func(page []fleet.Device) {
		for _, d := range page {
			s.devices[d.Name] = d
		}
	})
	if err != nil || r.client.Writes() != s.writes {
		return nil
	}
	return s
}
