package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/protocol"
)

// moduleCache keeps module bytes read from the store, by sha256, and the
// outcome of checking them for a board with given limits.
type moduleCache struct {
	store   fleet.Store
	mu      sync.Mutex
	m       map[string][]byte
	checked map[string]error // by sha256, board, limits
}

// check runs checkFn (if any) for module on board, once per module, board
// and limits.
func (c *moduleCache) check(ctx context.Context, checkFn func(context.Context, []byte, string, fleet.Limits) error,
	board string, module []byte, sha string, lim fleet.Limits) error {
	if checkFn == nil {
		return nil
	}
	key := fmt.Sprintf("%s/%s/%d/%d", sha, board, lim.Memory, lim.Fuel)
	c.mu.Lock()
	err, ok := c.checked[key]
	c.mu.Unlock()
	if ok {
		return err
	}
	if err = checkFn(ctx, module, board, lim); err != nil {
		if ctx.Err() != nil {
			return nil // not a verdict: the gateway is stopping; the device checks too
		}
		// module.CheckError's message says so already: the prefix once.
		if prefix := "module cannot run on board " + board + ": "; !strings.HasPrefix(err.Error(), prefix) {
			err = fmt.Errorf("%s%w", prefix, err)
		}
	}
	c.mu.Lock()
	if c.checked == nil {
		c.checked = map[string]error{}
	}
	c.checked[key] = err
	c.mu.Unlock()
	return err
}

func (c *moduleCache) get(ctx context.Context, sha string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b, ok := c.m[sha]; ok {
		return b, nil
	}
	b, err := c.store.GetModule(ctx, sha)
	if err != nil {
		return nil, err
	}
	if c.m == nil || len(c.m) > 32 {
		c.m = map[string][]byte{}
	}
	c.m[sha] = b
	return b, nil
}

// Kick asks the reconcile loop for a pass (coalesced).
func (g *Gateway) Kick() {
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// reconcileLoop plans and sends commands for every connected device when
// something changes, and every 30 s in case a change was missed.
func (g *Gateway) reconcileLoop(ctx context.Context) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	var took time.Duration // by the last pass
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.kick:
		case <-t.C:
		}
		// Let a burst of changes (a fan-out's acks) arrive before planning,
		// and at least as long as a pass takes: a pass reads every device,
		// and under a stream of changes back-to-back passes would take a
		// core from the sessions.
		select {
		case <-ctx.Done():
			return
		case <-time.After(max(20*time.Millisecond, took)):
		}
		start := time.Now()
		g.reconcile(ctx)
		took = time.Since(start)
	}
}

// resumeSession asks the reconcile loop to plan for a session that just
// started, resuming whatever had not settled. New sessions are planned
// together in the loop's next pass rather than one full pass each, so a
// reconnect storm costs a few passes, and a session's read loop (its
// heartbeats) starts at once.
func (g *Gateway) resumeSession(s *session) {
	s.resume.Store(true)
	g.Kick()
}

// reconcile plans for every session; sessions marked for resume also get
// their unsettled commands again.
func (g *Gateway) reconcile(ctx context.Context) {
	start := time.Now()
	g.planMu.Lock()
	defer g.planMu.Unlock()
	apps, err := g.store.Applications().List(ctx)
	if err != nil {
		g.log.Error("reconcile: list applications", "err", err)
		return
	}
	deps, err := g.store.Deployments().List(ctx)
	if err != nil {
		g.log.Error("reconcile: list deployments", "err", err)
		return
	}
	byDevice := map[string]map[string]fleet.Deployment{}
	for _, d := range deps {
		if byDevice[d.Device] == nil {
			byDevice[d.Device] = map[string]fleet.Deployment{}
		}
		byDevice[d.Device][d.App] = d
	}

	var sessions []*session
	g.mu.Lock()
	for _, s := range g.sessions {
		sessions = append(sessions, s)
	}
	g.mu.Unlock()
	devices, err := g.store.Devices().List(ctx)
	if err != nil {
		g.log.Error("reconcile: list devices", "err", err)
		for _, s := range sessions {
			if s.resume.Load() {
				g.Kick() // try again
				break
			}
		}
		return
	}
	// Progressive rollouts move on (or halt) first; a rolled-back one
	// plans its stable release.
	apps = g.advanceRollouts(ctx, apps, devices, deps)
	counts := map[string]fleet.RolloutCount{}
	for i := range apps {
		counts[apps[i].Name] = fleet.CountRollout(&apps[i], deps, time.Now())
	}
	admit := func(a *fleet.Application, d *fleet.Device) bool {
		c := counts[a.Name]
		if !fleet.Admit(a, d, c) || !fleet.AdmitStep(a, d, c.Updated+c.InProgress+c.Failed) {
			return false
		}
		c.InProgress++
		counts[a.Name] = c
		return true
	}
	byName := make(map[string]*fleet.Device, len(devices))
	for i := range devices {
		byName[devices[i].Name] = &devices[i]
	}

	type work struct {
		s     *session
		board string
		steps []fleet.Step
	}
	var todo []work
	toPersist := map[string]fleet.Deployment{}
	for _, s := range sessions {
		resume := s.resume.Swap(false)
		dev := byName[s.device]
		if dev == nil {
			s.close("device deleted")
			continue
		}
		if g.cfg.Serves != nil {
			if err := g.cfg.Serves(dev); err != nil {
				s.sendWrongGateway(0, err)
				s.close("no longer served here: " + err.Error())
				continue
			}
		}
		steps := fleet.Plan(dev, apps, byDevice[s.device], admit, resume)
		if len(steps) == 0 {
			continue
		}
		for _, st := range steps {
			toPersist[fleet.DeploymentKey(st.Deployment.App, st.Deployment.Device)] = st.Deployment
		}
		todo = append(todo, work{s, dev.Board, steps})
	}
	if len(todo) == 0 {
		return
	}
	// Persist every generation before sending it: after a crash the
	// gateway never reuses a generation a device may have applied.
	if err := g.store.Deployments().PutMany(ctx, toPersist); err != nil {
		g.log.Error("reconcile: persist deployments; the next pass retries", "err", err)
		for _, w := range todo {
			w.s.resume.Store(true)
		}
		return
	}
	// The pass's span, from its start, once it has something to send (a
	// pass that plans nothing is no trace); each command a child of the
	// write it carries out (tracing.go).
	var links []trace.Link
	seen := map[trace.SpanID]bool{}
	nsteps := 0
	for _, w := range todo {
		for _, st := range w.steps {
			nsteps++
			if sc, ok := g.stepWrite(st); ok && !seen[sc.SpanID()] {
				seen[sc.SpanID()] = true
				links = append(links, trace.Link{SpanContext: sc})
			}
		}
	}
	pass, span := g.tracer.Start(ctx, "wasmbed.reconcile", trace.WithTimestamp(start), trace.WithLinks(links...),
		trace.WithAttributes(AttrGateway.String(g.cfg.Name), AttrDevices.Int(len(todo)), AttrSteps.Int(nsteps)))
	defer span.End()
	for _, w := range todo {
		for _, st := range w.steps {
			g.startCommandSpan(pass, w.s, w.board, st)
			g.send(ctx, w.s, w.board, st)
		}
	}
}

// send turns a planned step into a protocol command on s, whose device has
// board.
func (g *Gateway) send(ctx context.Context, s *session, board string, st fleet.Step) {
	dep := st.Deployment
	cmd := protocol.AppCommand{App: dep.App, Generation: dep.Generation}
	var err error
	switch st.Kind {
	case fleet.StepDeploy:
		var module []byte
		module, err = g.modules.get(ctx, dep.SHA256)
		if err != nil {
			// Not a failure: the module may arrive after its application
			// (kubectl). Visible, and sent when it arrives (modulewait.go).
			g.moduleMissing(ctx, s, dep.App, dep.SHA256, err)
			g.commandNotSent(s, dep.App, dep.Generation, "module_missing", err)
			return
		}
		if err := g.modules.check(ctx, g.cfg.CheckModule, board, module, dep.SHA256, st.App.Limits); err != nil {
			g.log.Warn("deploy: module cannot run on the device's board; not sent", "app", dep.App, "device", s.device, "err", err)
			g.refuseDeploy(ctx, dep, err.Error())
			g.commandNotSent(s, dep.App, dep.Generation, "refused", err)
			return
		}
		sum, _ := hex.DecodeString(dep.SHA256)
		a := st.App
		s.mu.Lock()
		if s.transfers == nil {
			s.transfers = map[string]*transfer{}
		}
		s.transfers[dep.App] = &transfer{generation: dep.Generation, module: module}
		s.mu.Unlock()
		g.Metrics.Deploys.Inc()
		err = s.send(&protocol.Deploy{App: dep.App, Generation: dep.Generation, Version: dep.Version, SHA256: sum,
			Size: uint32(len(module)), Limits: protocol.Limits{Fuel: a.Limits.Fuel, Memory: a.Limits.Memory, TickMS: a.Limits.TickMS},
			Config: a.Config, Start: a.Running}, s.id())
		s.commandSize(dep.App, dep.Generation, len(module))
	case fleet.StepStart:
		err = s.send((*protocol.Start)(&cmd), s.id())
	case fleet.StepStop:
		err = s.send((*protocol.Stop)(&cmd), s.id())
	case fleet.StepRemove:
		err = s.send((*protocol.Remove)(&cmd), s.id())
	}
	if err != nil {
		g.commandNotSent(s, dep.App, dep.Generation, "send_failed", err)
	}
}

// refuseDeploy records a deploy the gateway did not send as failed, with
// why: it counts as a failure in the rollout (a batched one halts).
func (g *Gateway) refuseDeploy(ctx context.Context, dep fleet.Deployment, why string) {
	key := fleet.DeploymentKey(dep.App, dep.Device)
	if _, err := g.store.Deployments().Update(ctx, key, func(d *fleet.Deployment) error {
		if d.Generation != dep.Generation {
			return nil // superseded
		}
		d.State, d.Detail, d.UpdatedAt = protocol.AppStateFailed.String(), why, time.Now().UTC()
		return nil
	}); err != nil {
		g.log.Error("record refused deploy", "app", dep.App, "device", dep.Device, "err", err)
		return
	}
	g.Metrics.AppFailures.WithLabelValues(protocol.AppStateFailed.String()).Inc()
	g.event(ctx, "app.failed", key, why)
}

// onProgress answers the device's resume offset with the next chunk.
func (g *Gateway) onProgress(s *session, m *protocol.TransferProgress) {
	s.mu.Lock()
	t := s.transfers[m.App]
	s.mu.Unlock()
	if t == nil || t.generation != m.Generation || int(m.Offset) >= len(t.module) {
		return // stale, unknown, or complete: the device reports app_status next
	}
	// Chunk payload: the configured size, within the device's frame limit
	// minus the envelope's overhead.
	size := min(g.cfg.ChunkSize, s.maxFrame-64-len(m.App), len(t.module)-int(m.Offset))
	if s.send(&protocol.ModuleChunk{App: m.App, Generation: m.Generation, Offset: m.Offset,
		Data: t.module[m.Offset : int(m.Offset)+size]}, s.id()) == nil {
		s.commandProgress(m.App, m.Generation, size)
	}
}

// onAppStatus records what the device reports of an app.
func (g *Gateway) onAppStatus(ctx context.Context, s *session, m *protocol.AppStatus) {
	received := time.Now()
	defer g.commandAcked(s, m, received)
	key := fleet.DeploymentKey(m.App, s.device)
	errStale := errors.New("stale")
	var removed bool
	dep, err := g.store.Deployments().Update(ctx, key, func(d *fleet.Deployment) error {
		if m.Generation < d.Generation {
			return errStale
		}
		d.State, d.Observed, d.Detail = m.State.String(), m.Version, m.Detail
		d.UpdatedAt = time.Now().UTC()
		removed = m.State == protocol.AppStateRemoved && d.Removing
		return nil
	})
	switch {
	case errors.Is(err, errStale):
		return
	case errors.Is(err, fleet.ErrNotFound):
		s.log().Info("status for an app the gateway does not track", "app", m.App)
		return
	case err != nil:
		s.log().Error("record app status", "app", m.App, "err", err)
		return
	}
	if m.State != protocol.AppStateDownloading {
		s.mu.Lock()
		delete(s.transfers, m.App)
		s.mu.Unlock()
	}
	g.observedApp(ctx, key, m.App, s.board, m.State, m.Detail, dep.Observed)
	if removed {
		// The record stays as a tombstone: it keeps the generation, so a
		// later deploy of the same app to this device is newer than
		// everything the device has applied.
		g.event(ctx, "app.removed", key, "")
	}
	// A batched or progressive rollout may admit the next device (or
	// halt) now, or once this one has stayed up for the min-ready time
	// (then it counts as updated).
	// Other rollouts planned every device already: a pass per status would
	// only decode the fleet again.
	if a, err := g.store.Applications().Get(ctx, m.App); err == nil && (a.Rollout.Strategy == fleet.RolloutBatched || a.Rollout.Progressive()) {
		if m.State == protocol.AppStateRunning {
			time.AfterFunc(a.MinReady()+10*time.Millisecond, g.Kick)
		}
		g.Kick()
	}
}

// observedApp counts and records an app state a device reported (in an
// app_status, or a hello after a reset): the runtime stopping an app, a
// module that failed to install, an app that crashed the device.
func (g *Gateway) observedApp(ctx context.Context, key, app, board string, state protocol.AppState, detail, version string) {
	g.Metrics.AppStates.WithLabelValues(app, board, state.String()).Inc()
	switch state {
	case protocol.AppStateTrapped, protocol.AppStateFuelExhausted, protocol.AppStateOutOfMemory, protocol.AppStateFailed:
		g.Metrics.AppFailures.WithLabelValues(state.String()).Inc()
		g.event(ctx, "app."+state.String(), key, detail)
	case protocol.AppStateRunning:
		g.event(ctx, "app.running", key, "version "+version)
	case protocol.AppStateDownloading:
		if strings.HasPrefix(detail, protocol.ReplacedPrefix) {
			g.event(ctx, "app.replaced", key, detail)
		}
	}
}

// onAppOutput keeps what an app logged and published, dropping repeats.
func (g *Gateway) onAppOutput(ctx context.Context, s *session, m *protocol.AppOutput) {
	s.mu.Lock()
	if m.Seq != 0 && m.Seq <= s.outSeq[m.App] {
		s.mu.Unlock()
		return
	}
	if s.outSeq == nil {
		s.outSeq = map[string]uint64{}
	}
	s.outSeq[m.App] = m.Seq
	s.mu.Unlock()
	recs := make([]fleet.OutputRecord, 0, len(m.Logs)+len(m.Values))
	for _, l := range m.Logs {
		recs = append(recs, fleet.OutputRecord{Time: time.UnixMilli(l.Time).UTC(), App: m.App, Device: s.device,
			Level: logLevel(l.Level), Text: l.Text})
	}
	for _, v := range m.Values {
		if math.IsNaN(v.Value) {
			continue
		}
		val := v.Value
		g.health.observe(m.App, s.device, v.Key, val, time.UnixMilli(v.Time))
		recs = append(recs, fleet.OutputRecord{Time: time.UnixMilli(v.Time).UTC(), App: m.App, Device: s.device, Key: v.Key, Value: &val})
	}
	g.Metrics.OutputRecords.Add(float64(len(recs)))
	if len(m.Logs) > 0 {
		g.Metrics.AppOutput.WithLabelValues(m.App, s.board, "log").Add(float64(len(m.Logs)))
	}
	if len(m.Values) > 0 {
		g.Metrics.AppOutput.WithLabelValues(m.App, s.board, "value").Add(float64(len(m.Values)))
	}
	g.output.publish(recs)
	if err := g.store.AppendOutput(ctx, recs); err != nil {
		s.log().Warn("store app output", "app", m.App, "err", err)
	}
}

func logLevel(l protocol.LogLevel) string {
	switch l {
	case protocol.LogError:
		return "error"
	case protocol.LogWarn:
		return "warn"
	case protocol.LogInfo:
		return "info"
	default:
		return "debug"
	}
}

// adoptReportedApps reconciles the gateway's records with the apps a device
// says it holds: an app the gateway does not track gets a record (so the
// plan removes or replaces it), and a generation above the gateway's (its
// store was restored from an older copy) is taken over, so the next command
// is newer than anything the device applied. A report at the record's
// generation sets its state and detail: an app that crashed the device comes
// back failed ("crashed: watchdog in tick"), counted and recorded once, and
// like any failed deployment is not sent again until the application changes,
// even when a later hello (after another reset) lists it `downloading`.
//
// After a reset (newBoot) the hello is the whole truth about the device's
// apps: a deployment it does not list is no longer claimed installed or
// running, and its module is sent again at the same generation, unless it
// had failed.
func (g *Gateway) adoptReportedApps(ctx context.Context, device, board string, apps []protocol.AppReport, newBoot bool) {
	reported := map[string]bool{}
	for _, r := range apps {
		reported[r.App] = true
		key := fleet.DeploymentKey(r.App, device)
		var changed bool
		_, err := g.store.Deployments().Update(ctx, key, func(d *fleet.Deployment) error {
			changed = false
			if r.Generation > d.Generation {
				d.Generation = r.Generation
				d.SpecHash = "" // unknown spec: plan a fresh deploy or a remove
			}
			if r.Generation == d.Generation {
				if r.State == protocol.AppStateDownloading && d.State == protocol.AppStateFailed.String() && strings.HasPrefix(d.Detail, protocol.CrashedPrefix) {
					// A device that lost this module (a reset) asks for it again: it took
					// the device down, and stays failed until the application changes.
					return nil
				}
				state := r.State.String()
				changed = d.State != state || d.Detail != r.Detail
				if changed {
					d.UpdatedAt = time.Now().UTC()
				}
				d.State, d.Observed, d.Detail = state, r.Version, r.Detail
			}
			return nil
		})
		if errors.Is(err, fleet.ErrNotFound) {
			changed = true
			err = g.store.Deployments().Create(ctx, key, fleet.Deployment{App: r.App, Device: device, Generation: r.Generation,
				Version: r.Version, SHA256: hex.EncodeToString(r.SHA256), State: r.State.String(), Observed: r.Version,
				Detail: r.Detail, Command: fleet.StepDeploy.String(), UpdatedAt: time.Now().UTC()})
		}
		if err != nil {
			g.log.Warn("adopt reported app", "device", device, "app", r.App, "err", err)
			continue
		}
		if changed && r.State != protocol.AppStateRunning { // running: said when it started
			g.observedApp(ctx, key, r.App, board, r.State, r.Detail, r.Version)
		}
	}
	if !newBoot {
		return
	}
	deps, err := g.store.Deployments().List(ctx)
	if err != nil {
		g.log.Warn("deployments after a reset", "device", device, "err", err)
		return
	}
	for _, dep := range deps {
		if dep.Device != device || reported[dep.App] || dep.Removing || dep.Failed() || dep.State == protocol.AppStateUnknown.String() {
			continue
		}
		key := fleet.DeploymentKey(dep.App, device)
		if _, err := g.store.Deployments().Update(ctx, key, func(d *fleet.Deployment) error {
			if d.Removing || d.Failed() || reported[d.App] {
				return nil
			}
			d.State, d.Detail = protocol.AppStateUnknown.String(), "not reported by the device after its reset"
			d.Command = fleet.StepDeploy.String()
			d.UpdatedAt = time.Now().UTC()
			return nil
		}); err != nil {
			g.log.Warn("deployment after a reset", "device", device, "app", dep.App, "err", err)
		}
	}
}

// recordReset counts a boot a device reports for the first time, by cause,
// and when the reset was unexpected (watchdog, panic, hard fault,
// brown-out) records a device.reset event saying why.
func (g *Gateway) recordReset(ctx context.Context, s *session, r *protocol.ResetReport) {
	g.Metrics.DeviceResets.WithLabelValues(r.Cause.String()).Inc()
	if !r.Cause.Unexpected() {
		return
	}
	msg := "unexpected reset: " + r.Cause.String()
	if r.Detail != "" {
		msg += ": " + r.Detail
	}
	msg += fmt.Sprintf(" (boot %d since power-on, %d unexpected in a row)", r.Boots, r.Unexpected)
	if r.SafeMode {
		msg += "; safe mode: no app runs until a newer generation is deployed"
	}
	s.log().Warn("device reset unexpectedly", "cause", r.Cause.String(), "detail", r.Detail, "boots", r.Boots,
		"unexpected", r.Unexpected, "safe_mode", r.SafeMode)
	g.event(ctx, "device.reset", s.device, msg)
}
