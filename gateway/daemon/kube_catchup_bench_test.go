package daemon

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/fleet/kubestore/kubetest"
)

// BenchmarkKubernetesCatchUp: the API server stopped for a long outage
// (WASMBED_BENCH_K8S_OUTAGE seconds, default 60) and started again, until
// every gateway's view and the controller's are current: a label changed
// and a device created right after the API server answers are seen by
// every gateway's API (its store) and the new device is assigned by the
// controller. Reported as catchup-s (make bench: k8s_catchup_seconds).
func BenchmarkKubernetesCatchUp(b *testing.B) {
	gateways := benchEnvInt("WASMBED_BENCH_K8S_GATEWAYS", 10)
	outage := time.Duration(benchEnvInt("WASMBED_BENCH_K8S_OUTAGE", 60)) * time.Second
	ctx := context.Background()
	env := kubetest.Start(b)
	f := newKubeFleet(b, env)
	f.runController()
	var hs []*harness
	for i := range gateways {
		hs = append(hs, f.startKubeGateway(fmt.Sprintf("gw-%02d", i), b.TempDir(), ""))
	}
	f.device("dev-0", "linux", "", nil)
	eventuallyWithin(b, time.Minute, "dev-0 assigned", func() bool {
		d, err := f.admin.Devices().Get(ctx, "dev-0")
		return err == nil && d.Gateway != ""
	})

	b.ResetTimer()
	env.StopAPIServer(b)
	time.Sleep(outage)
	env.StartAPIServer(b)
	t0 := time.Now()
	var o v1alpha1.Device
	must(b, env.Client.Get(ctx, client.ObjectKey{Namespace: f.ns, Name: "dev-0"}, &o))
	o.Spec.Labels = v1alpha1.Labels{"after": "outage"}
	must(b, env.Client.Update(ctx, &o))
	f.device("dev-1", "linux", "", nil)
	seen := map[int]bool{}
	var controllerAt time.Duration
	eventuallyWithin(b, 3*time.Minute, "every gateway and the controller current", func() bool {
		for i, h := range hs {
			if seen[i] {
				continue
			}
			var d fleet.Device
			if h.call(h.reader, "GET", "/v1/devices/dev-0", nil, &d) == http.StatusOK && d.Labels["after"] == "outage" {
				seen[i] = true
			}
		}
		if controllerAt == 0 {
			if d, err := f.admin.Devices().Get(ctx, "dev-1"); err == nil && d.Gateway != "" {
				controllerAt = time.Since(t0)
			}
		}
		time.Sleep(20 * time.Millisecond)
		return len(seen) == len(hs) && controllerAt != 0
	})
	catchup := time.Since(t0)
	b.StopTimer()
	b.Logf("after a %v outage: %d gateways and the controller current %v after the API server answered (the controller %v)",
		outage, gateways, catchup.Round(time.Millisecond), controllerAt.Round(time.Millisecond))
	b.ReportMetric(catchup.Seconds(), "catchup-s")
	b.ReportMetric(0, "ns/op")
}
