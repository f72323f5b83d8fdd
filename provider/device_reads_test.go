package provider

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

const (
	routeGetDevice   = "GET /v1/devices/{name}"
	routeListDevices = "GET /v1/devices"
)

// newClient is another client of g's API, as the provider makes one.
func (g *testGateway) newClient(t *testing.T) *apiv1.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM([]byte(g.caPEM)) {
		t.Fatal("bad CA PEM")
	}
	u, err := url.Parse(g.api)
	if err != nil {
		t.Fatal(err)
	}
	return apiv1.NewClient(u, g.token, pool)
}

func registerDevices(t *testing.T, c *apiv1.Client, n int, labels map[string]string) []string {
	t.Helper()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("reads-%03d", i)
		if _, err := c.PutDevice(context.Background(), names[i], apiv1.DeviceSpec{Board: "stm32f4-discovery", Labels: labels}); err != nil {
			t.Fatal(err)
		}
	}
	return names
}

// readAll reads every name through r, ten at a time as Terraform does.
func readAll(t *testing.T, r *deviceReads, names []string) map[string]fleet.Device {
	t.Helper()
	var mu sync.Mutex
	out := map[string]fleet.Device{}
	sem := make(chan struct{}, 10)
	var wg sync.WaitGroup
	for _, n := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			d, err := r.get(context.Background(), n)
			if err != nil {
				t.Errorf("read %s: %v", n, err)
				return
			}
			mu.Lock()
			out[n] = d
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// A refresh of many devices reads the first ones one by one, then lists the
// fleet once and answers the rest from that list, with the same devices as
// the gateway's GET gives.
func TestDeviceReadsBulk(t *testing.T) {
	g := startTestGateway(t)
	names := registerDevices(t, g.client, 100, map[string]string{"site": "a"})
	r := newDeviceReads(g.newClient(t))
	gets, lists := g.requests(t, routeGetDevice), g.requests(t, routeListDevices)

	got := readAll(t, r, names)
	if d := g.requests(t, routeGetDevice) - gets; d != deviceReadsBulkAfter {
		t.Errorf("%d single GETs for %d reads, want %d (then the list)", d, len(names), deviceReadsBulkAfter)
	}
	if d := g.requests(t, routeListDevices) - lists; d != 1 {
		t.Errorf("%d lists, want 1", d)
	}
	for _, n := range names {
		want, err := g.client.GetDevice(context.Background(), n)
		if err != nil {
			t.Fatal(err)
		}
		if d := got[n]; d.Name != n || d.Board != want.Board || d.Labels["site"] != "a" || d.Status.Phase != want.Status.Phase ||
			!d.CreatedAt.Equal(want.CreatedAt) {
			t.Errorf("%s: read %+v, the gateway has %+v", n, d, want)
		}
	}

	// A device missing from the snapshot is read on its own: one registered
	// since (found), one that never was (the gateway's 404).
	if _, err := g.client.PutDevice(context.Background(), "reads-new", apiv1.DeviceSpec{Board: "mps2-an386"}); err != nil {
		t.Fatal(err)
	}
	gets = g.requests(t, routeGetDevice)
	if d, err := r.get(context.Background(), "reads-new"); err != nil || d.Board != "mps2-an386" {
		t.Errorf("device registered after the list: %+v, %v", d, err)
	}
	if _, err := r.get(context.Background(), "reads-none"); !isNotFound(err) {
		t.Errorf("device never registered: %v, want a 404", err)
	}
	if d := g.requests(t, routeGetDevice) - gets; d != 2 {
		t.Errorf("%d single GETs for the two missing from the list, want 2", d)
	}
}

// A write of this client (another resource's Create, Update or Delete)
// drops the snapshot: every read after it goes to the gateway, and sees what
// changed meanwhile outside Terraform too.
func TestDeviceReadsFreshAfterWrite(t *testing.T) {
	g := startTestGateway(t)
	ctx := context.Background()
	names := registerDevices(t, g.client, 60, map[string]string{"site": "a"})
	c := g.newClient(t)
	r := newDeviceReads(c)
	readAll(t, r, names)
	if r.snap == nil {
		t.Fatal("no snapshot after 60 reads")
	}

	// Changed outside Terraform after the list: the snapshot still has it
	// (a refresh a moment earlier would have read the same)...
	if _, err := g.client.PutDevice(ctx, names[1], apiv1.DeviceSpec{Board: "stm32f4-discovery", Labels: map[string]string{"site": "outside"}}); err != nil {
		t.Fatal(err)
	}
	if d, _ := r.get(ctx, names[1]); d.Labels["site"] != "a" {
		t.Fatalf("served %v from the snapshot, want the listed labels", d.Labels)
	}
	// ... until this client writes, here another device.
	if _, err := c.PutDevice(ctx, names[0], apiv1.DeviceSpec{Board: "stm32f4-discovery", Labels: map[string]string{"site": "b"}}); err != nil {
		t.Fatal(err)
	}
	gets := g.requests(t, routeGetDevice)
	if d, err := r.get(ctx, names[0]); err != nil || d.Labels["site"] != "b" {
		t.Errorf("read after its own write: %v, %v; want site b", d.Labels, err)
	}
	if d, err := r.get(ctx, names[1]); err != nil || d.Labels["site"] != "outside" {
		t.Errorf("read of another device after a write: %v, %v; want the labels set outside", d.Labels, err)
	}
	if d := g.requests(t, routeGetDevice) - gets; d != 2 {
		t.Errorf("%d GETs after the write, want 2 (no snapshot)", d)
	}

	// A device deleted by this client is gone for the reads after it.
	if err := c.DeleteDevice(ctx, names[2]); err != nil {
		t.Fatal(err)
	}
	if _, err := r.get(ctx, names[2]); !isNotFound(err) {
		t.Errorf("read after delete: %v, want a 404", err)
	}

	// A write while the fleet is being listed spoils that list.
	r = newDeviceReads(c)
	r.reads = deviceReadsBulkAfter
	gate := make(chan struct{})
	go func() {
		r.mu.Lock()
		for r.loading == nil && r.snap == nil {
			r.mu.Unlock()
			time.Sleep(time.Millisecond)
			r.mu.Lock()
		}
		r.mu.Unlock()
		c.PutDevice(ctx, names[3], apiv1.DeviceSpec{Board: "stm32f4-discovery", Labels: map[string]string{"site": "during"}})
		close(gate)
	}()
	// The list may or may not have begun when the write lands: either way
	// no snapshot outlives it, and the next read is fresh.
	r.get(ctx, names[3])
	<-gate
	if d, err := r.get(ctx, names[3]); err != nil || d.Labels["site"] != "during" {
		t.Errorf("read after a write during the list: %v, %v", d.Labels, err)
	}
}

// Drift: what changed outside Terraform before the refresh is in the
// snapshot, a device deleted outside reads as gone, and a snapshot older
// than deviceReadsTTL is listed again.
func TestDeviceReadsDrift(t *testing.T) {
	g := startTestGateway(t)
	ctx := context.Background()
	names := registerDevices(t, g.client, 50, nil)
	if _, err := g.client.PutDevice(ctx, names[40], apiv1.DeviceSpec{Board: "mps2-an386", Labels: map[string]string{"drift": "yes"}}); err != nil {
		t.Fatal(err)
	}
	if err := g.client.DeleteDevice(ctx, names[41]); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	r := newDeviceReads(g.newClient(t))
	r.now = func() time.Time { return now }
	readAll(t, r, names[:40])
	if r.snap == nil {
		t.Fatal("no snapshot after 40 reads")
	}
	if d, err := r.get(ctx, names[40]); err != nil || d.Board != "mps2-an386" || d.Labels["drift"] != "yes" {
		t.Errorf("changed outside before the refresh: %+v, %v", d, err)
	}
	if _, err := r.get(ctx, names[41]); !isNotFound(err) {
		t.Errorf("deleted outside before the refresh: %v, want a 404", err)
	}

	if _, err := g.client.PutDevice(ctx, names[42], apiv1.DeviceSpec{Board: "stm32f4-discovery", Labels: map[string]string{"late": "yes"}}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(deviceReadsTTL + time.Second)
	gets, lists := g.requests(t, routeGetDevice), g.requests(t, routeListDevices)
	if d, err := r.get(ctx, names[42]); err != nil || d.Labels["late"] != "yes" {
		t.Errorf("after the snapshot expired: %v, %v; want the fresh labels", d.Labels, err)
	}
	if g.requests(t, routeGetDevice)-gets != 1 || g.requests(t, routeListDevices) != lists {
		t.Error("an expired snapshot: want one GET and no new list yet")
	}
}

// With the real CLI: the refresh of 40 devices lists the fleet once instead
// of reading each device, and still sees drift (labels changed, a device
// deleted, outside Terraform); the apply that follows writes, and the plans
// after it (new walks, new snapshots) are empty.
func TestAccDeviceRefreshInBulk(t *testing.T) {
	g := startTestGateway(t)
	const n = 40
	cfg := g.providerBlock() + fmt.Sprintf(`
resource "wasmbed_device" "d" {
  count  = %d
  name   = format("bulk-%%02d", count.index)
  board  = "stm32f4-discovery"
  labels = { site = "a" }
}
`, n)
	ctx := context.Background()
	var gets, lists int
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: testProviders,
		Steps: []resource.TestStep{
			{Config: cfg},
			{PreConfig: func() {
				if _, err := g.client.PutDevice(ctx, "bulk-05", apiv1.DeviceSpec{Board: "stm32f4-discovery", Labels: map[string]string{"site": "outside"}}); err != nil {
					t.Fatal(err)
				}
				if err := g.client.DeleteDevice(ctx, "bulk-07"); err != nil {
					t.Fatal(err)
				}
				gets, lists = g.requests(t, routeGetDevice), g.requests(t, routeListDevices)
			}, Config: cfg, PlanOnly: true, ExpectNonEmptyPlan: true,
				ConfigPlanChecks: resource.ConfigPlanChecks{PostApplyPostRefresh: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("wasmbed_device.d[5]", plancheck.ResourceActionUpdate),
					plancheck.ExpectResourceAction("wasmbed_device.d[7]", plancheck.ResourceActionCreate),
					plancheck.ExpectResourceAction("wasmbed_device.d[0]", plancheck.ResourceActionNoop),
					plancheck.ExpectResourceAction("wasmbed_device.d[39]", plancheck.ResourceActionNoop),
				}}},
			{PreConfig: func() {
				// The plan step refreshed once (its other plan does not refresh).
				dg, dl := g.requests(t, routeGetDevice)-gets, g.requests(t, routeListDevices)-lists
				t.Logf("refresh of %d devices: %d GET /v1/devices/{name}, %d GET /v1/devices", n, dg, dl)
				if dl != 1 || dg > deviceReadsBulkAfter+2 {
					t.Errorf("refresh of %d devices: %d single reads and %d lists, want at most %d and 1", n, dg, dl, deviceReadsBulkAfter+2)
				}
			}, Config: cfg, Check: resource.ComposeAggregateTestCheckFunc(
				resource.TestCheckResourceAttr("wasmbed_device.d.5", "labels.site", "a"),
				resource.TestCheckResourceAttr("wasmbed_device.d.7", "phase", "registered"),
				func(*terraform.State) error {
					for _, name := range []string{"bulk-05", "bulk-07"} {
						d, err := g.client.GetDevice(ctx, name)
						if err != nil || d.Labels["site"] != "a" {
							return fmt.Errorf("%s after apply: %+v, %v", name, d, err)
						}
					}
					return nil
				},
			)},
		},
	})
}
