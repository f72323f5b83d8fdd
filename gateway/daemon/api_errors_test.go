package daemon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
	"github.com/wasmbed/wasmbed/module/wasmtest"
)

// rawCall sends body as is with contentType ("" for none) and returns the
// status, the answer's Content-Type and its problem, if it is one.
func (h *harness) rawCall(method, path, contentType string, body []byte) (int, http.Header, apiv1.ErrorResponse) {
	h.t.Helper()
	req, err := http.NewRequest(method, h.api+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+h.admin)
	resp, err := h.http.Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var p apiv1.ErrorResponse
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(raw, &p); err != nil {
			h.t.Fatalf("%s %s: %d answer is not JSON: %q", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, resp.Header, p
}

// Every error is a problem (RFC 9457) with a stable code; bad input is
// refused at the door: wrong Content-Type, null or trailing data, TTLs out
// of bounds, too many labels, a module that is not WebAssembly.
func TestAPIErrorsAreProblemsAndInputIsBounded(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	h.registerDevice("door", "mps2-an386", nil)
	js := "application/json"
	cases := []struct {
		name, method, path, ctype string
		body                      []byte
		status                    int
		code, detail              string
	}{
		{"unknown path", "GET", "/v1/nothing", "", nil, 404, apiv1.CodeNotFound, "no such path"},
		{"wrong method", "PATCH", "/v1/devices/door", js, []byte(`{}`), 405, apiv1.CodeMethodNotAllowed, "allowed: GET, PUT, DELETE"},
		{"text body", "PUT", "/v1/devices/door", "text/plain", []byte(`{"board":"mps2-an386"}`), 415, apiv1.CodeUnsupportedMedia, "want application/json"},
		{"form body", "PUT", "/v1/devices/door", "application/x-www-form-urlencoded", []byte(`{"board":"mps2-an386"}`), 415, apiv1.CodeUnsupportedMedia, ""},
		{"null body", "PUT", "/v1/gateways/gw-x", js, []byte(`null`), 400, apiv1.CodeInvalid, "null"},
		{"trailing data", "PUT", "/v1/devices/door", js, []byte(`{"board":"mps2-an386"} {"board":"nano33ble"}`), 400, apiv1.CodeInvalid, "data after"},
		{"unknown field", "PUT", "/v1/devices/door", js, []byte(`{"board":"mps2-an386","bord":1}`), 400, apiv1.CodeInvalid, "unknown field"},
		{"token ttl overflow", "POST", "/v1/devices/door/tokens", js, []byte(`{"ttl_seconds":20000000000}`), 400, apiv1.CodeInvalid, "ttl_seconds"},
		{"token ttl over 30 days", "POST", "/v1/devices/door/tokens", js, []byte(fmt.Sprintf(`{"ttl_seconds":%d}`, apiv1.MaxTokenTTLSeconds+1)), 400, apiv1.CodeInvalid, "30 days"},
		{"certificate ttl overflow", "POST", "/v1/certificates", js, []byte(`{"device":"door","csr_pem":"x","ttl_seconds":20000000000}`), 400, apiv1.CodeInvalid, "ttl_seconds"},
		{"module as json", "POST", "/v1/modules", js, wasmtest.App(t, "sensor"), 415, apiv1.CodeUnsupportedMedia, "application/wasm"},
		{"module with trailing garbage", "POST", "/v1/modules", "application/wasm", append(wasmtest.App(t, "sensor"), 0xde, 0xad), 422, apiv1.CodeModuleRejected, "not a valid WebAssembly module"},
		{"module with a bad section", "POST", "/v1/modules", "application/wasm", []byte("\x00asm\x01\x00\x00\x00\x01\xff"), 422, apiv1.CodeModuleRejected, ""},
	}
	labels := map[string]string{}
	for i := range fleet.MaxLabels + 1 {
		labels[fmt.Sprintf("k%d", i)] = "v"
	}
	many, _ := json.Marshal(map[string]any{"board": "mps2-an386", "labels": labels})
	cases = append(cases, struct {
		name, method, path, ctype string
		body                      []byte
		status                    int
		code, detail              string
	}{"too many labels", "PUT", "/v1/devices/door", js, many, 400, apiv1.CodeInvalid, "at most 64"})

	for _, c := range cases {
		status, hdr, p := h.rawCall(c.method, c.path, c.ctype, c.body)
		if status != c.status || p.Code != c.code || p.Status != c.status || !strings.Contains(p.Detail, c.detail) {
			t.Errorf("%s: %d %+v, want %d code %s with %q", c.name, status, p, c.status, c.code, c.detail)
			continue
		}
		if ct := hdr.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%s: Content-Type %q", c.name, ct)
		}
		if p.Type != apiv1.ProblemType+p.Code || p.Title != http.StatusText(status) || p.Error != p.Detail {
			t.Errorf("%s: problem fields %+v", c.name, p)
		}
		if status == 405 && hdr.Get("Allow") != "GET, PUT, DELETE" {
			t.Errorf("%s: Allow %q", c.name, hdr.Get("Allow"))
		}
	}

	// Nothing refused was stored: the device kept its spec, no module, no gateway.
	var d fleet.Device
	h.must(http.StatusOK, "GET", "/v1/devices/door", nil, &d)
	if d.Board != "mps2-an386" || len(d.Labels) != 0 {
		t.Fatalf("a refused update changed the device: %+v", d)
	}
	if got := h.call(h.admin, "GET", "/v1/gateways/gw-x", nil, nil); got != http.StatusNotFound {
		t.Fatalf("a null gateway was stored: %d", got)
	}
	// The bounds themselves are accepted.
	h.must(http.StatusCreated, "POST", "/v1/devices/door/tokens", map[string]any{"ttl_seconds": apiv1.MaxTokenTTLSeconds}, nil)
	delete(labels, "k0")
	h.must(http.StatusOK, "PUT", "/v1/devices/door", map[string]any{"board": "mps2-an386", "labels": labels}, nil)
	if st, _, p := h.rawCall("POST", "/v1/modules", "application/octet-stream", wasmtest.App(t, "sensor")); st != http.StatusCreated {
		t.Fatalf("a valid module as application/octet-stream: %d %+v", st, p)
	}

	// The Go client reads the code.
	u, _ := url.Parse(h.api)
	c := apiv1.NewClient(u, h.admin, h.roots)
	_, err := c.UploadModule(t.Context(), []byte("\x00asm\x01\x00\x00\x00\x01\xff"))
	var ae *apiv1.Error
	if !errors.As(err, &ae) || ae.Status != 422 || ae.Code != apiv1.CodeModuleRejected {
		t.Fatalf("client error: %v", err)
	}
}

// Each request is counted by route, method and status, and answers with its
// X-Request-ID (the client's, else a new one).
func TestAPIRequestsAreCountedAndIdentified(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	req, _ := http.NewRequest("GET", h.api+"/v1/devices/nope", nil)
	req.Header.Set("Authorization", "Bearer "+h.reader)
	req.Header.Set("X-Request-ID", "trace-42")
	resp, err := h.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("X-Request-ID") != "trace-42" {
		t.Fatalf("%d, X-Request-ID %q", resp.StatusCode, resp.Header.Get("X-Request-ID"))
	}
	req.Header.Set("X-Request-ID", "bad id")
	resp, err = h.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if id := resp.Header.Get("X-Request-ID"); len(id) != 16 {
		t.Fatalf("a malformed X-Request-ID was not replaced: %q", id)
	}
	h.rawCall("GET", "/v1/nothing", "", nil)
	req, _ = http.NewRequest("GET", h.api+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+h.reader)
	resp, err = h.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`wasmbed_http_requests_total{method="GET",route="GET /v1/devices/{name}",status="404"} 2`,
		`wasmbed_http_requests_total{method="GET",route="unrouted",status="404"} 1`,
		`wasmbed_http_request_duration_seconds_count{route="GET /v1/devices/{name}"} 2`,
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Writes are atomic: concurrent spec changes each count in the generation,
// concurrent creates give one 201 and the rest 200, and If-Match guards a
// replace with the object's ETag.
func TestAPIWritesAreAtomic(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	sha := h.upload(wasmtest.App(t, "sensor"))
	spec := func(i int) map[string]any {
		return map[string]any{"version": "1.0.0", "sha256": sha, "config": map[string]string{"n": strconv.Itoa(i)},
			"selector": map[string]any{"labels": map[string]string{"role": "x"}}}
	}
	const n = 20
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes <- h.call(h.admin, "PUT", "/v1/applications/race", spec(i), nil)
		}()
	}
	wg.Wait()
	close(codes)
	created := 0
	for c := range codes {
		switch c {
		case http.StatusCreated:
			created++
		case http.StatusOK:
		default:
			t.Errorf("concurrent PUT answered %d", c)
		}
	}
	var app fleet.Application
	h.must(http.StatusOK, "GET", "/v1/applications/race", nil, &app)
	if created != 1 || app.Generation != n {
		t.Fatalf("%d creates, generation %d after %d different specs (want 1 and %d)", created, app.Generation, n, n)
	}

	// If-Match: the ETag of a GET replaces; a stale one is refused.
	req, _ := http.NewRequest("GET", h.api+"/v1/applications/race", nil)
	req.Header.Set("Authorization", "Bearer "+h.reader)
	resp, err := h.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	put := func(match string, i int) (int, string) {
		js, _ := json.Marshal(spec(i))
		req, _ := http.NewRequest("PUT", h.api+"/v1/applications/race", bytes.NewReader(js))
		req.Header.Set("Authorization", "Bearer "+h.admin)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("If-Match", match)
		resp, err := h.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("ETag")
	}
	code, next := put(etag, 100)
	if etag == "" || code != http.StatusOK || next == "" || next == etag {
		t.Fatalf("If-Match with the current ETag %s: %d, new ETag %s", etag, code, next)
	}
	if code, _ := put(etag, 101); code != http.StatusPreconditionFailed {
		t.Fatalf("If-Match with a stale ETag: %d", code)
	}
	h.must(http.StatusOK, "GET", "/v1/applications/race", nil, &app)
	if app.Config["n"] != "100" || app.Generation != n+1 {
		t.Fatalf("after the guarded writes: config %v generation %d", app.Config, app.Generation)
	}
	js, _ := json.Marshal(spec(1))
	if st, _, p := h.rawCallIfMatch("PUT", "/v1/applications/nothing-here", js, `"x"`); st != http.StatusPreconditionFailed || p.Code != apiv1.CodePrecondition {
		t.Fatalf("If-Match on a missing application: %d %+v", st, p)
	}
}

// rawCallIfMatch is rawCall of a JSON body with If-Match.
func (h *harness) rawCallIfMatch(method, path string, body []byte, match string) (int, http.Header, apiv1.ErrorResponse) {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.api+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+h.admin)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("If-Match", match)
	resp, err := h.http.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var p apiv1.ErrorResponse
	json.NewDecoder(resp.Body).Decode(&p)
	return resp.StatusCode, resp.Header, p
}

// Lists page in a stable order: ?limit= items after ?continue=, every item
// once across the pages, filters applied before paging.
func TestAPIListsPage(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	for i := range 25 {
		labels := map[string]string{"parity": []string{"even", "odd"}[i%2]}
		h.must(http.StatusCreated, "PUT", fmt.Sprintf("/v1/devices/pg-%02d", i), map[string]any{"board": "mps2-an386", "labels": labels}, nil)
	}
	walk := func(query string) ([]string, int) {
		var names []string
		pages := 0
		cont := ""
		for {
			var l apiv1.DeviceList
			q := url.Values{"limit": {"10"}}
			if query != "" {
				q.Add("label", query)
			}
			if cont != "" {
				q.Set("continue", cont)
			}
			h.must(http.StatusOK, "GET", "/v1/devices?"+q.Encode(), nil, &l)
			pages++
			if len(l.Devices) > 10 {
				t.Fatalf("page of %d with limit 10", len(l.Devices))
			}
			for _, d := range l.Devices {
				names = append(names, d.Name)
			}
			if l.Continue == "" {
				return names, pages
			}
			if pages == 1 && query == "" {
				// Written between two pages: a name before the cursor is not
				// seen, one after is, and nothing is seen twice.
				h.must(http.StatusCreated, "PUT", "/v1/devices/pg-00a", map[string]any{"board": "mps2-an386", "labels": map[string]string{"parity": "even"}}, nil)
				h.must(http.StatusCreated, "PUT", "/v1/devices/pg-99", map[string]any{"board": "mps2-an386", "labels": map[string]string{"parity": "even"}}, nil)
			}
			cont = l.Continue
		}
	}
	names, pages := walk("")
	if pages != 3 || len(names) != 26 || !slices.IsSorted(names) || names[len(names)-1] != "pg-99" || slices.Contains(names, "pg-00a") {
		t.Fatalf("%d pages: %v", pages, names)
	}
	names, _ = walk("parity=even")
	if len(names) != 15 || !slices.IsSorted(names) { // 13 even of 25, pg-00a, pg-99
		t.Fatalf("even devices across pages: %v", names)
	}
	if st, _, p := h.rawCall("GET", "/v1/devices?continue=%25%25", "", nil); st != http.StatusBadRequest || p.Code != apiv1.CodeInvalid {
		t.Fatalf("a bad continue token: %d %+v", st, p)
	}
	var all apiv1.DeviceList
	h.must(http.StatusOK, "GET", "/v1/devices", nil, &all)
	if len(all.Devices) != 27 || all.Continue != "" {
		t.Fatalf("without limit: %d devices, continue %q", len(all.Devices), all.Continue)
	}
	// The labels and the board filter before paging, whatever the page size.
	var odd apiv1.DeviceList
	h.must(http.StatusOK, "GET", "/v1/devices?label=parity%3Dodd&board=mps2-an386&limit=1000", nil, &odd)
	if len(odd.Devices) != 12 || odd.Continue != "" {
		t.Fatalf("odd devices on mps2-an386: %d, continue %q", len(odd.Devices), odd.Continue)
	}
	h.must(http.StatusOK, "GET", "/v1/devices?label=parity%3Dodd&board=stm32f4-discovery", nil, &odd)
	if len(odd.Devices) != 0 {
		t.Fatalf("odd devices on stm32f4-discovery: %v", odd.Devices)
	}

	// A list answers at most 1,000 items, also without ?limit= (bounded
	// memory per request); the client follows the continue tokens.
	u, _ := url.Parse(h.api)
	c := apiv1.NewClient(u, h.admin, h.roots)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 1000; i += 8 {
				if _, err := c.PutDevice(t.Context(), fmt.Sprintf("bulk-%04d", i), apiv1.DeviceSpec{Board: "mps2-an386"}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	h.must(http.StatusOK, "GET", "/v1/devices", nil, &all)
	if len(all.Devices) != 1000 || all.Continue == "" {
		t.Fatalf("1,027 devices without limit: a page of %d, continue %q", len(all.Devices), all.Continue)
	}
	got, err := c.ListDevices(t.Context(), apiv1.DeviceFilter{})
	if err != nil || len(got) != 1027 {
		t.Fatalf("the client's list: %d devices, %v", len(got), err)
	}
}

// Stored modules are listed with what needs them, and one nothing needs can
// be deleted; one an application (spec or stable release) needs cannot.
func TestAPIModulesListAndDelete(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	u, _ := url.Parse(h.api)
	c := apiv1.NewClient(u, h.admin, h.roots)
	ctx := t.Context()
	sensor, err := c.UploadModule(ctx, wasmtest.App(t, "sensor"))
	if err != nil {
		t.Fatal(err)
	}
	spare, err := c.UploadModule(ctx, wasmtest.App(t, "blinker"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutApplication(ctx, "temp", apiv1.ApplicationSpec{Version: "1", SHA256: sensor.SHA256,
		Selector: fleet.Selector{Labels: map[string]string{"x": "y"}}}); err != nil {
		t.Fatal(err)
	}
	var l apiv1.ModuleList
	h.must(http.StatusOK, "GET", "/v1/modules", nil, &l)
	used := map[string][]string{}
	for _, m := range l.Modules {
		used[m.SHA256] = m.UsedBy
	}
	if len(l.Modules) != 2 || !slices.Equal(used[sensor.SHA256], []string{"application temp"}) || len(used[spare.SHA256]) != 0 {
		t.Fatalf("modules: %+v", l.Modules)
	}
	st, _, p := h.rawCall("DELETE", "/v1/modules/"+sensor.SHA256, "", nil)
	if st != http.StatusConflict || p.Code != apiv1.CodeConflict || !strings.Contains(p.Detail, "application temp") {
		t.Fatalf("deleting a module an application runs: %d %+v", st, p)
	}
	h.must(http.StatusNoContent, "DELETE", "/v1/modules/"+spare.SHA256, nil, nil)
	if st, _, p := h.rawCall("DELETE", "/v1/modules/"+spare.SHA256, "", nil); st != http.StatusNotFound {
		t.Fatalf("deleting it again: %d %+v", st, p)
	}
	if _, err := c.PutApplication(ctx, "temp2", apiv1.ApplicationSpec{Version: "1", SHA256: spare.SHA256,
		Selector: fleet.Selector{Labels: map[string]string{"x": "y"}}}); err == nil {
		t.Fatal("an application put with a deleted module")
	}
	h.must(http.StatusNoContent, "DELETE", "/v1/applications/temp", nil, nil)
	h.must(http.StatusNoContent, "DELETE", "/v1/modules/"+sensor.SHA256, nil, nil)
	h.must(http.StatusOK, "GET", "/v1/modules", nil, &l)
	if len(l.Modules) != 0 {
		t.Fatalf("modules after deleting both: %+v", l.Modules)
	}
}

// A device that comes after an application it would take, on a board the
// application's module cannot run on, is refused with the application and
// the board named; nothing is stored. One the module runs on is registered.
func TestAPIDeviceLandingChecked(t *testing.T) {
	h := startGateway(t, gateway.Config{})
	u, _ := url.Parse(h.api)
	c := apiv1.NewClient(u, h.admin, h.roots)
	ctx := t.Context()
	mod, err := c.UploadModule(ctx, wasmtest.App(t, "sensor"))
	if err != nil {
		t.Fatal(err)
	}
	// More memory than a stm32f4-discovery has for apps, which an mps2-an386 has.
	lim := fleet.Limits{Memory: 2 * 65536}
	if _, err := c.PutApplication(ctx, "big", apiv1.ApplicationSpec{Version: "1", SHA256: mod.SHA256, Limits: lim,
		Selector: fleet.Selector{Labels: map[string]string{"site": "lab"}}}); err != nil {
		t.Fatal(err)
	}
	_, err = c.PutDevice(ctx, "small", apiv1.DeviceSpec{Board: "stm32f4-discovery", Labels: map[string]string{"site": "lab"}})
	var ae *apiv1.Error
	if !errors.As(err, &ae) || ae.Status != 422 || ae.Code != apiv1.CodeModuleRejected || ae.Board != "stm32f4-discovery" ||
		!strings.Contains(ae.Message, "application big") {
		t.Fatalf("a device the application cannot run on: %v", err)
	}
	if _, err := c.GetDevice(ctx, "small"); !errors.As(err, &ae) || ae.Status != 404 {
		t.Fatalf("the refused device was stored: %v", err)
	}
	// Elsewhere (a label the selector does not have), or a board that runs it: registered.
	if _, err := c.PutDevice(ctx, "small", apiv1.DeviceSpec{Board: "stm32f4-discovery", Labels: map[string]string{"site": "home"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutDevice(ctx, "roomy", apiv1.DeviceSpec{Board: "mps2-an386", Labels: map[string]string{"site": "lab"}}); err != nil {
		t.Fatal(err)
	}
	// Moving the small one into the application's selector is refused too.
	if _, err := c.PutDevice(ctx, "small", apiv1.DeviceSpec{Board: "stm32f4-discovery", Labels: map[string]string{"site": "lab"}}); !errors.As(err, &ae) || ae.Status != 422 {
		t.Fatalf("relabelling into the application: %v", err)
	}
}
