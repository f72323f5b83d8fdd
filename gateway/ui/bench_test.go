package ui_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
	"github.com/wasmbed/wasmbed/module/wasmtest"
)

// BenchmarkDashboard measures, in headless Chromium against a gateway with
// 10,000 devices (`make bench`, BENCH_ONLY=ui):
//
//   - first-paint-ms: the overview's first contentful paint after a
//     navigation (the browser's own paint timing), median of 5 loads;
//   - event-latency-ms: a device going online (the API first answers it
//     online: the gateway has written it) to the open overview showing it
//     (the page's own clock, from a MutationObserver), median of 5 devices;
//   - metric-series: the series of the gateway's /metrics with the 10,000
//     devices and 10 applications.
func BenchmarkDashboard(b *testing.B) {
	g := startGateway(b)
	ctx := browser(b)
	login(b, ctx, g, g.admin, "admin (admin)")
	var paints []float64
	for range 5 {
		run(b, ctx, "overview", chromedp.Navigate(g.api+"/ui/"), chromedp.WaitVisible(css("#devices-total")))
		ms := get(b, ctx, "paint timing", chromedp.Poll[float64](
			`(performance.getEntriesByName("first-contentful-paint")[0] || {}).startTime`))
		paints = append(paints, ms)
	}
	var lat []float64
	for i := range 5 {
		// The page notes when #devices-online first shows the new count.
		want := fmt.Sprint(i + 1)
		run(b, ctx, "observe", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`window.__seen = 0;
			new MutationObserver(() => { const e = document.getElementById("devices-online");
				if (e && e.textContent === %q && !window.__seen) window.__seen = Date.now(); })
				.observe(document.getElementById("live"), {childList: true, subtree: true, characterData: true});`, want)))
		name := fmt.Sprintf("ev-%02d", i)
		g.enroll(b, name)
		// When the gateway has written it online: polled through the API.
		var online time.Time
		for online.IsZero() {
			d, err := g.client.GetDevice(context.Background(), name)
			if err != nil {
				b.Fatal(err)
			}
			if d.Status.Phase == fleet.PhaseOnline {
				online = time.Now()
			} else {
				time.Sleep(5 * time.Millisecond)
			}
		}
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := chromedp.Do(sctx, chromedp.WaitVisible(fmt.Sprintf(`//div[@id="devices-online"][text()=%q]`, want)))
		cancel()
		if err != nil {
			txt := get(b, ctx, "debug", chromedp.Evaluate[string](`document.getElementById("devices-online").textContent + " / " + document.getElementById("devices-total").textContent`))
			b.Fatalf("shown %s: %v; page says %s", want, err, txt)
		}
		seen := get(b, ctx, "seen", chromedp.Evaluate[float64](`window.__seen`))
		lat = append(lat, seen-float64(online.UnixMilli()))
	}
	// Metric series of the gateway with the 10,000 devices and 10
	// applications: what a Prometheus scrape costs.
	for i := range 10 {
		sha, err := g.client.UploadModule(context.Background(), wasmtest.App(b, "blinker"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := g.client.PutApplication(context.Background(), fmt.Sprintf("app-%d", i), apiv1.ApplicationSpec{Version: "1", SHA256: sha.SHA256,
			Selector: fleet.Selector{Labels: map[string]string{"ring": fmt.Sprint(i)}}}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(g.metricSeries(b)), "metric-series")
	b.ReportMetric(median(paints), "first-paint-ms")
	b.ReportMetric(median(lat), "event-latency-ms")
}

// metricSeries counts the series of the gateway's /metrics.
func (g *testGateway) metricSeries(t testing.TB) int {
	t.Helper()
	u, _ := url.Parse(g.api + "/metrics")
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM([]byte(g.caPEM))
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodGet, u.String(), nil)
	req.Header.Set("Authorization", "Bearer "+g.reader)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			n++
		}
	}
	return n
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}
