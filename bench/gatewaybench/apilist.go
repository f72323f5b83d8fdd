package main

import (
	"bytes"
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ---- the management API at fleet scale (issue #14): 1,000 clients at once
// each reading the whole device list page by page from a gateway holding
// 10,000 devices, and a filtered list of one device by its label.

const (
	apiListDevices = 10000
	apiListClients = 1000
	apiListPage    = 500 // ?limit= of the clients' pages
	apiListFilter  = 50  // sequential filtered lists timed
)

// apiListPhase starts a fresh gateway with its default API bounds (but room
// for every client's connection), registers apiListDevices devices, and
// records api_list_p99_ms, api_list_peak_bytes and api_filtered_list_ms.
func apiListPhase(c *runConfig) error {
	addrs, err := loopbackAddrs(2)
	if err != nil {
		return err
	}
	args := []string{"--api-max-conns", strconv.Itoa(apiListClients + 64)}
	inflight := "the gateway's default"
	if c.apiInflight > 0 {
		args = append(args, "--api-max-inflight", strconv.Itoa(c.apiInflight))
		inflight = strconv.Itoa(c.apiInflight)
	}
	g, err := startGateway(c, filepath.Join(c.work, "apilist-data"), addrs[0], addrs[1], "", args...)
	if err != nil {
		return err
	}
	defer g.p.stop(30 * time.Second)

	logf("registering %d devices through the API (%d requests in flight)", apiListDevices, c.registerConc)
	t0 := time.Now()
	if err := parallel(apiListDevices, c.registerConc, "registered", func(i int) error {
		spec := map[string]any{"board": []string{"stm32f4-discovery", "mps2-an386"}[i%2],
			"labels": map[string]string{"rack": fmt.Sprintf("r%03d", i/100), "serial": fmt.Sprintf("s%05d", i)}}
		return g.api.call("PUT", fmt.Sprintf("/v1/devices/list-%05d", i), spec, http.StatusCreated, nil)
	}); err != nil {
		return err
	}
	logf("registered %d devices in %.1fs", apiListDevices, time.Since(t0).Seconds())
	idle, err := g.settledMemory()
	if err != nil {
		return err
	}
	cond := conditions(c.work)

	// Each client its own connection, as 1,000 separate clients have.
	caPEM, err := os.ReadFile(g.caFile)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, MaxIdleConnsPerHost: apiListClients, MaxIdleConns: apiListClients}
	hc := &http.Client{Timeout: 5 * time.Minute, Transport: tr}

	// Peak RSS while the clients run, sampled every 50 ms.
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if m, err := readMem(g.p.pid()); err == nil && m.RSS > peak.Load() {
				peak.Store(m.RSS)
			}
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()

	var mu sync.Mutex
	var lat []time.Duration // answered pages
	var throttled, pages atomic.Int64
	var firstErr error
	var wg sync.WaitGroup
	start := make(chan struct{})
	var ready sync.WaitGroup
	ready.Add(apiListClients)
	logf("%d clients each reading the %d devices in pages of %d; %s", apiListClients, apiListDevices, apiListPage, cond)
	for range apiListClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The TLS handshake before the clock starts: the pages' latency
			// is the list's, not the connection's.
			if _, _, _, err := listPage(hc, g, url.Values{"limit": {"1"}}); err != nil && !errors.Is(err, errThrottled) {
				mu.Lock()
				firstErr = cmp.Or(firstErr, err)
				mu.Unlock()
			}
			ready.Done()
			<-start
			var mine []time.Duration
			cont, seen := "", 0
			for {
				q := url.Values{"limit": {strconv.Itoa(apiListPage)}}
				if cont != "" {
					q.Set("continue", cont)
				}
				t := time.Now()
				st, retry, page, err := listPage(hc, g, q)
				d := time.Since(t)
				if err != nil {
					mu.Lock()
					firstErr = cmp.Or(firstErr, err)
					mu.Unlock()
					return
				}
				if st == http.StatusTooManyRequests {
					throttled.Add(1)
					time.Sleep(retry)
					continue
				}
				mine = append(mine, d)
				pages.Add(1)
				seen += page.Devices
				if cont = page.Continue; cont == "" {
					break
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			if seen != apiListDevices {
				firstErr = cmp.Or(firstErr, fmt.Errorf("a client saw %d devices of %d", seen, apiListDevices))
			}
			mu.Unlock()
		}()
	}
	ready.Wait()
	t1 := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(t1)
	close(stop)
	<-sampled
	if firstErr != nil {
		return firstErr
	}
	slices.Sort(lat)
	p := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	logf("%d pages answered in %.1fs (%d answered 429 first): p50 %v, p99 %v, max %v; RSS %.1f -> %.1f MiB", pages.Load(), elapsed.Seconds(),
		throttled.Load(), p(0.5).Round(time.Millisecond), p(0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond), mib(idle.RSS), mib(peak.Load()))
	result("api_list_p99_ms", float64(p(0.99).Microseconds())/1000, "ms", fmt.Sprintf(
		"99th percentile of the answered page requests (GET /v1/devices?limit=%d&continue=...) while %d clients, each on its own TLS connection (opened before the clock starts), "+
			"read all %d devices of a fresh gateway at once (%d pages in %.1f s; p50 %.1f ms, max %.1f ms); the gateway works on %s requests at once "+
			"(--api-max-inflight) and answers the others 429 with Retry-After after a short wait: %d such answers, each retried after its Retry-After; "+
			"embedded bbolt store (target <= 500 ms); %s",
		apiListPage, apiListClients, apiListDevices, pages.Load(), elapsed.Seconds(), float64(p(0.5).Microseconds())/1000,
		float64(lat[len(lat)-1].Microseconds())/1000, inflight, throttled.Load(), cond))
	result("api_list_peak_bytes", float64(peak.Load()-idle.RSS), "bytes", fmt.Sprintf(
		"the gateway's peak VmRSS (sampled every 50 ms) during that load minus its settled VmRSS before: %.1f -> %.1f MiB, %d client connections open (target <= 200 MB)",
		mib(idle.RSS), mib(peak.Load()), apiListClients))
	tr.CloseIdleConnections()

	// One device by a label of its own, out of 10,000: sequential requests
	// on a warm connection.
	var one []time.Duration
	for i := range apiListFilter {
		serial := fmt.Sprintf("s%05d", (i*197)%apiListDevices)
		q := url.Values{"label": {"serial=" + serial}}
		t := time.Now()
		st, _, page, err := listPage(g.api.hc, g, q)
		d := time.Since(t)
		if err != nil {
			return err
		}
		if st != http.StatusOK || page.Devices != 1 {
			return fmt.Errorf("label serial=%s: status %d, %d devices", serial, st, page.Devices)
		}
		one = append(one, d)
	}
	slices.Sort(one)
	med := one[len(one)/2]
	result("api_filtered_list_ms", float64(med.Microseconds())/1000, "ms", fmt.Sprintf(
		"median of %d sequential GET /v1/devices?label=serial=<one device's> on a warm connection, out of %d devices (min %.2f ms, max %.2f ms); "+
			"the store decodes only the records whose stored form holds the label (target <= 5 ms)",
		apiListFilter, apiListDevices, float64(one[0].Microseconds())/1000, float64(one[len(one)-1].Microseconds())/1000))
	return nil
}

var errThrottled = errors.New("429")

// devicePage is what a client needs of a page: how many devices, and the
// continue token (read from the page's end, without decoding the devices:
// the load generator shares the gateway's two cores).
type devicePage struct {
	Devices  int
	Continue string
}

var (
	nameKey     = []byte(`"name":`)
	continueKey = []byte(`"continue":`)
)

func parsePage(raw []byte) (devicePage, error) {
	var p devicePage
	if !bytes.HasPrefix(raw, []byte(`{"devices":[`)) {
		return p, fmt.Errorf("not a device list: %.80s", raw)
	}
	// A device's JSON holds "name": once (its spec and status have no name).
	p.Devices = bytes.Count(raw, nameKey)
	if i := bytes.LastIndex(raw, continueKey); i >= 0 {
		if err := json.Unmarshal(bytes.TrimRight(raw[i+len(continueKey):], "}\n"), &p.Continue); err != nil {
			return p, fmt.Errorf("continue: %w", err)
		}
	}
	return p, nil
}

// listPage gets one page of /v1/devices; a 429's Retry-After comes back as
// a duration.
func listPage(hc *http.Client, g *gatewayProc, q url.Values) (int, time.Duration, devicePage, error) {
	var page devicePage
	req, err := http.NewRequest("GET", g.api.base+"/v1/devices?"+q.Encode(), nil)
	if err != nil {
		return 0, 0, page, err
	}
	req.Header.Set("Authorization", "Bearer "+g.api.token)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, 0, page, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, page, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
		page, err := parsePage(raw)
		return resp.StatusCode, 0, page, err
	case http.StatusTooManyRequests:
		s, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || s <= 0 {
			return 0, 0, page, errors.New("429 without a Retry-After of whole seconds")
		}
		return resp.StatusCode, time.Duration(s) * time.Second, page, nil
	}
	return 0, 0, page, fmt.Errorf("GET /v1/devices: status %d: %s", resp.StatusCode, raw)
}
