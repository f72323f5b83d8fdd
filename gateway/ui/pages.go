package ui

import (
	"cmp"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// count is one row of a breakdown.
type count struct {
	Key string
	N   int
}

func counts(m map[string]int) []count {
	out := make([]count, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, count{k, m[k]})
	}
	return out
}

func (u *UI) overview(w http.ResponseWriter, r *http.Request, s *session) {
	var sum apiv1.Summary
	var evs apiv1.EventList
	err := u.call(r, s, http.MethodGet, "/v1/summary", nil, &sum)
	if err == nil {
		err = u.call(r, s, http.MethodGet, "/v1/events?latest=20", nil, &evs)
	}
	if err != nil {
		u.failed(w, r, s, "Overview", err)
		return
	}
	slices.Reverse(evs.Events) // newest first
	data := base(r, s, "Overview")
	data["Summary"], data["Events"] = sum, evs.Events
	data["ByPhase"], data["ByBoard"], data["ByGateway"] = counts(sum.ByPhase), counts(sum.ByBoard), counts(sum.ByGateway)
	u.page(w, r, "overview", data)
}

// pageSize is the devices table's page: the API pages on the server, so
// the table costs its page whatever the fleet's size.
const pageSize = 50

func (u *UI) devices(w http.ResponseWriter, r *http.Request, s *session) {
	in := r.URL.Query()
	q := url.Values{"limit": {fmt.Sprint(pageSize)}}
	for _, k := range []string{"prefix", "board", "phase", "gateway", "continue"} {
		if v := strings.TrimSpace(in.Get(k)); v != "" {
			q.Set(k, v)
		}
	}
	for _, l := range strings.Fields(in.Get("labels")) {
		q.Add("label", l)
	}
	var list apiv1.DeviceList
	if err := u.call(r, s, http.MethodGet, "/v1/devices?"+q.Encode(), nil, &list); err != nil {
		u.failed(w, r, s, "Devices", err)
		return
	}
	data := base(r, s, "Devices")
	data["Devices"], data["Filter"] = list.Devices, in
	if list.Continue != "" {
		next := url.Values{}
		for k, v := range in {
			next[k] = v
		}
		next.Set("continue", list.Continue)
		data["Next"] = next
	}
	first := url.Values{}
	for k, v := range in {
		if k != "continue" {
			first[k] = v
		}
	}
	data["First"], data["Paged"] = first, in.Get("continue") != ""
	u.page(w, r, "devices", data)
}

// series are an app's published values on a device, by key, for a chart.
type series struct {
	App, Key string
	Times    []int64   // unix seconds
	Values   []float64 // same length
	Last     float64
}

func (u *UI) device(w http.ResponseWriter, r *http.Request, s *session, name string) {
	var d fleet.Device
	var deps apiv1.DeploymentList
	var evs apiv1.EventList
	err := u.call(r, s, http.MethodGet, "/v1/devices/"+url.PathEscape(name), nil, &d)
	if err == nil {
		err = u.call(r, s, http.MethodGet, "/v1/deployments?device="+url.QueryEscape(name), nil, &deps)
	}
	if err == nil {
		err = u.call(r, s, http.MethodGet, "/v1/events?latest=1000&object="+url.QueryEscape(name), nil, &evs)
	}
	if err != nil {
		u.failed(w, r, s, "Device "+name, err)
		return
	}
	slices.Reverse(evs.Events)
	// What the device measured of its apps (its latest heartbeat here); in
	// Kubernetes mode another gateway may hold it: then the page says so.
	var measured apiv1.DeviceMetrics
	measuredWhy := ""
	if err := u.call(r, s, http.MethodGet, "/v1/devices/"+url.PathEscape(name)+"/metrics", nil, &measured); err != nil {
		measuredWhy = err.Error()
	}
	var logs []fleet.OutputRecord
	var charts []series
	for _, dep := range deps.Deployments {
		var out apiv1.OutputList
		if err := u.call(r, s, http.MethodGet, "/v1/applications/"+url.PathEscape(dep.App)+"/output?limit=200&device="+url.QueryEscape(name), nil, &out); err != nil {
			continue // the application was deleted meanwhile
		}
		byKey := map[string]*series{}
		for _, o := range out.Output {
			if o.Value == nil {
				logs = append(logs, o)
				continue
			}
			sr := byKey[o.Key]
			if sr == nil {
				sr = &series{App: o.App, Key: o.Key}
				byKey[o.Key] = sr
			}
			sr.Times, sr.Values, sr.Last = append(sr.Times, o.Time.Unix()), append(sr.Values, *o.Value), *o.Value
		}
		for _, k := range slices.Sorted(maps.Keys(byKey)) {
			charts = append(charts, *byKey[k])
		}
	}
	slices.SortFunc(logs, func(a, b fleet.OutputRecord) int { return b.Time.Compare(a.Time) })
	data := base(r, s, "Device "+name)
	data["Device"], data["Deployments"], data["Events"] = d, deps.Deployments, evs.Events
	data["Logs"], data["Charts"] = logs[:min(len(logs), 100)], charts
	data["Measured"], data["MeasuredWhy"] = measured.Apps, measuredWhy
	// The unexpected resets the device reported, as the gateway recorded
	// them (device.reset events, newest first, as long as events are kept).
	var resets []fleet.Event
	for _, e := range evs.Events {
		if e.Kind == "device.reset" {
			resets = append(resets, e)
		}
	}
	data["Resets"] = resets
	if measured.ReportedAt != nil {
		data["MeasuredAt"] = *measured.ReportedAt
	}
	// App output is not a change of the store: the page's stream follows
	// the device's output (FollowOutput), or the page polls.
	data["Poll"] = u.output == nil
	data["Stream"] = template.URL("/ui/stream?device=" + url.QueryEscape(name))
	u.page(w, r, "device", data)
}

// deviceAction revokes a device's certificates or mints an enrollment
// token (shown once, in the answer).
func (u *UI) deviceAction(w http.ResponseWriter, r *http.Request, s *session, name, action string) {
	data := base(r, s, "")
	var err error
	switch action {
	case "revoke":
		var d fleet.Device
		err = u.call(r, s, http.MethodPost, "/v1/devices/"+url.PathEscape(name)+"/revoke", apiv1.RevokeRequest{Reason: "revoked from the dashboard by " + s.name}, &d)
		data["Result"], data["Error"] = "Revoked: "+name+" is refused until it enrolls again.", errText(err)
	case "token":
		var t apiv1.TokenResponse
		err = u.call(r, s, http.MethodPost, "/v1/devices/"+url.PathEscape(name)+"/tokens", apiv1.TokenRequest{TTLSeconds: 3600}, &t)
		data["Result"], data["Error"], data["Secret"] = "Enrollment token for "+name+" (valid 1 h; shown once):", errText(err), t.Token
	}
	u.fragment(w, "result", data, err)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// fragment renders one template of the actions' answers, with the API's
// status when it refused (htmx swaps it in all the same: see app.js).
func (u *UI) fragment(w http.ResponseWriter, name string, data map[string]any, err error) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	var ae *apiv1.Error
	if errors.As(err, &ae) {
		w.WriteHeader(ae.Status)
	}
	if err := u.pages["error"].ExecuteTemplate(w, name, data); err != nil {
		u.log.Error("render", "fragment", name, "err", err)
	}
}

// appRow is an application in the list, with its rollout.
type appRow struct {
	App    fleet.Application
	Status apiv1.ApplicationStatus
}

func (u *UI) applications(w http.ResponseWriter, r *http.Request, s *session) {
	var list apiv1.ApplicationList
	if err := u.call(r, s, http.MethodGet, "/v1/applications", nil, &list); err != nil {
		u.failed(w, r, s, "Applications", err)
		return
	}
	var rows []appRow
	for _, a := range list.Applications {
		var st apiv1.ApplicationStatus
		if err := u.call(r, s, http.MethodGet, "/v1/applications/"+url.PathEscape(a.Name)+"/status", nil, &st); err != nil {
			continue
		}
		rows = append(rows, appRow{a, st})
	}
	data := base(r, s, "Applications")
	data["Apps"] = rows
	u.page(w, r, "applications", data)
}

func (u *UI) application(w http.ResponseWriter, r *http.Request, s *session, name string) {
	var a fleet.Application
	var st apiv1.ApplicationStatus
	var evs apiv1.EventList
	err := u.call(r, s, http.MethodGet, "/v1/applications/"+url.PathEscape(name), nil, &a)
	if err == nil {
		err = u.call(r, s, http.MethodGet, "/v1/applications/"+url.PathEscape(name)+"/status", nil, &st)
	}
	if err == nil {
		err = u.call(r, s, http.MethodGet, "/v1/events?latest=1000&object="+url.QueryEscape(name), nil, &evs)
	}
	if err != nil {
		u.failed(w, r, s, "Application "+name, err)
		return
	}
	slices.Reverse(evs.Events)
	// Failed devices first, then by name.
	slices.SortStableFunc(st.Devices, func(a, b apiv1.DeviceRollout) int {
		return cmp.Or(cmp.Compare(rank(b.State), rank(a.State)), strings.Compare(a.Device, b.Device))
	})
	data := base(r, s, "Application "+name)
	data["App"], data["Status"], data["Events"] = a, st, evs.Events
	u.page(w, r, "application", data)
}

func rank(state string) int {
	switch state {
	case "failed", "trapped", "rejected":
		return 2
	case "running":
		return 0
	}
	return 1
}

func (u *UI) rolloutAction(w http.ResponseWriter, r *http.Request, s *session, name, action string) {
	var a fleet.Application
	err := u.call(r, s, http.MethodPost, "/v1/applications/"+url.PathEscape(name)+"/rollout/"+url.PathEscape(action), nil, &a)
	data := base(r, s, "")
	data["Result"], data["Error"] = "Rollout of "+name+": "+action+" done.", errText(err)
	u.fragment(w, "result", data, err)
}

// startStop starts or stops an application on its devices: its spec again
// with running set, replaced only if nobody changed it since it was read
// (If-Match).
func (u *UI) startStop(w http.ResponseWriter, r *http.Request, s *session, name string, run bool) {
	var a fleet.Application
	path := "/v1/applications/" + url.PathEscape(name)
	hdr, err := u.callWith(r, s, http.MethodGet, path, nil, nil, &a)
	if err == nil {
		spec := apiv1.ApplicationSpec{Version: a.Version, SHA256: a.SHA256, Config: a.Config, Limits: a.Limits,
			Selector: a.Selector, Rollout: a.Rollout, Running: &run}
		_, err = u.callWith(r, s, http.MethodPut, path, map[string]string{"If-Match": hdr.Get("ETag")}, spec, &a)
	}
	verb := "stopped"
	if run {
		verb = "started"
	}
	data := base(r, s, "")
	data["Result"], data["Error"] = name+" "+verb+" on its devices.", errText(err)
	u.fragment(w, "result", data, err)
}

func (u *UI) events(w http.ResponseWriter, r *http.Request, s *session) {
	var evs apiv1.EventList
	if err := u.call(r, s, http.MethodGet, "/v1/events?latest=200", nil, &evs); err != nil {
		u.failed(w, r, s, "Events", err)
		return
	}
	slices.Reverse(evs.Events)
	data := base(r, s, "Events")
	data["Events"] = evs.Events
	u.page(w, r, "events", data)
}

// stream tells the pages when to refresh their live part: an SSE "change"
// event when an object is written (API tokens excepted) or an event is
// recorded, at most one every streamEvery (app.js listens); it ends when
// the session does.
// streamEvery bounds how often a page refreshes its live part: often
// enough that a change shows within a second, seldom enough that a busy
// fleet costs an open overview at most a few summaries a second.
const streamEvery = 400 * time.Millisecond

func (u *UI) stream(w http.ResponseWriter, r *http.Request, s *session) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{})
	rc.SetReadDeadline(time.Time{})
	ctx := r.Context()
	changes := u.store.Watch(ctx)
	// A device page's stream also says "change" when the device's apps
	// send output.
	var outputMore <-chan struct{}
	var outputSeq uint64
	device := r.URL.Query().Get("device")
	deviceOutput := func(o *fleet.OutputRecord) bool { return o.Device == device }
	if device != "" && u.output != nil {
		_, outputSeq, _, outputMore = u.output(0, 0, deviceOutput)
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	var seq uint64
	if evs, err := u.store.LastEvents(ctx, 1); err == nil && len(evs) > 0 {
		seq = evs[0].Seq
	}
	tick := time.NewTicker(streamEvery)
	defer tick.Stop()
	// A change is told at once, unless one was told less than streamEvery
	// ago: then at the next tick. Quiet streams get a keepalive every 15 s.
	var sent, wrote time.Time
	dirty := false
	send := func() bool {
		if _, err := fmt.Fprintf(w, "event: change\ndata: %d\n\n", seq); err != nil {
			return false
		}
		flusher.Flush()
		dirty, sent, wrote = false, time.Now(), time.Now()
		return true
	}
	for {
		select {
		case <-ctx.Done():
			return
		case c, ok := <-changes:
			if !ok {
				return
			}
			if c.Kind == fleet.KindAPIToken {
				continue
			}
			dirty = true
			if time.Since(sent) >= streamEvery && !send() {
				return
			}
		case <-outputMore:
			var recs []gateway.FedRecord
			recs, outputSeq, _, outputMore = u.output(outputSeq, 1, deviceOutput)
			if len(recs) > 0 {
				dirty = true
				if time.Since(sent) >= streamEvery && !send() {
					return
				}
			}
		case <-tick.C:
			if u.sessionOf(r) == nil {
				return // logged out or expired
			}
			if evs, err := u.store.LastEvents(ctx, 1); err == nil && len(evs) > 0 && evs[0].Seq != seq {
				seq, dirty = evs[0].Seq, true
			}
			if dirty {
				if !send() {
					return
				}
			} else if time.Since(wrote) >= 15*time.Second {
				if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
					return
				}
				flusher.Flush()
				wrote = time.Now()
			}
		}
	}
}
