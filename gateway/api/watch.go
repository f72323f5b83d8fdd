package api

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
)

// watch streams changes as server-sent events until the client goes away:
// "change" events ({kind, key, deleted}) as objects are written, "event"
// events as the gateway records them, each with its sequence number as the
// SSE id, and a comment every 15 s to keep proxies from closing the stream.
// ?after=SEQ, or the Last-Event-ID header an EventSource sends when it
// reconnects, replays the events after SEQ first; changes are not replayed
// (list the objects again). Admins also get "audit" events, the entries
// of the audit log recorded while the stream is open, without an id (the
// id is the events'; GET /v1/audit?after= pages the log). Changes of named
// API tokens go to admins only;
// a stream opened with a named token ends when that token is revoked,
// rotated without grace or expires (checked at its changes and keepalives).
func (s *Server) watch(w http.ResponseWriter, r *http.Request, who *hashedToken) error {
	after, _, err := resumeAfter(r)
	if err != nil {
		return err
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		return fmt.Errorf("streaming unsupported by this connection")
	}
	streaming(w) // for as long as the client stays
	ctx := r.Context()
	changes := s.store.Watch(ctx)
	// The audit log is for admins: the entries after the stream's answer
	// begins (read before it does, so that a change made once the client
	// has the answer is on the stream).
	audit := fleet.RoleAllows(who.role, RoleAdmin)
	var auditSeq uint64
	if audit {
		p, err := s.store.Audit(ctx, math.MaxUint64, 0)
		if err != nil {
			return err
		}
		auditSeq = p.LastSeq
	}
	// Only new events unless asked: those after the last one recorded
	// before the answer begins (an event recorded once the client has the
	// answer is on the stream).
	seq := uint64(after)
	if after == 0 {
		if evs, err := s.store.LastEvents(ctx, 1); err == nil && len(evs) > 0 {
			seq = evs[len(evs)-1].Seq
		}
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	send := func(kind, id string, v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if id != "" {
			id = "id: " + id + "\n"
		}
		if _, err := fmt.Fprintf(w, "event: %s\n%sdata: %s\n\n", kind, id, b); err != nil {
			return err
		}
		flusher.Flush()
		return nil
	}
	poll := time.NewTicker(500 * time.Millisecond)
	defer poll.Stop()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case c, ok := <-changes:
			if !ok {
				return nil
			}
			if c.Kind == fleet.KindAPIToken || c.Kind == "" {
				if s.authenticate(r) == nil {
					return nil
				}
				if c.Kind != "" && !fleet.RoleAllows(who.role, RoleAdmin) {
					continue
				}
			}
			if err := send("change", "", map[string]any{"kind": c.Kind, "key": c.Key, "deleted": c.Deleted}); err != nil {
				return nil
			}
		case <-poll.C:
			evs, err := s.store.Events(ctx, seq, 100)
			if err != nil {
				continue
			}
			for _, e := range evs {
				if err := send("event", strconv.FormatUint(e.Seq, 10), e); err != nil {
					return nil
				}
				seq = e.Seq
			}
			if !audit {
				continue
			}
			p, err := s.store.Audit(ctx, auditSeq, 100)
			if err != nil {
				continue
			}
			for _, a := range p.Records {
				if err := send("audit", "", a); err != nil {
					return nil
				}
				auditSeq = a.Seq
			}
		case <-keepalive.C:
			if s.authenticate(r) == nil {
				return nil
			}
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
				return nil
			}
			flusher.Flush()
		}
	}
}

// resumeAfter is where a stream resumes: ?after=SEQ, else the Last-Event-ID
// header an EventSource sends when it reconnects; given reports whether
// either was.
// Both are checked when both are given.
func resumeAfter(r *http.Request) (after int, given bool, err error) {
	if last := r.Header.Values("Last-Event-ID"); len(last) > 0 {
		if after, err = parseCount("Last-Event-ID", last[0]); err != nil {
			return 0, false, err
		}
		given = true
	}
	if r.URL.Query().Has("after") { // ?after= wins
		after, err = queryInt(r, "after", 0)
		given = true
	}
	return after, given, err
}
