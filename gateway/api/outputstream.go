package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
)

// outputStreamRoute streams an application's output.
const outputStreamRoute = "GET /v1/applications/{name}/output/stream"

// streams are the routes that answer server-sent events for as long as the
// client stays: the in-flight limit does not count them.
var streams = map[string]bool{watchRoute: true, outputStreamRoute: true}

// outputStream sends an application's log lines and published values
// (?device= for one device's) as server-sent events "output", each with
// its place in the gateway's output feed as the SSE id, as they arrive.
// ?after=SEQ or Last-Event-ID resumes after SEQ from the feed, which holds
// the last gateway.OutputFeedSize records of all apps; a resume from
// further back first gets a "gap" event (data {"after": SEQ}: records were
// dropped; GET /v1/applications/{name}/output has the latest ones the store
// keeps). Without either, the stream starts with what arrives next.
func (s *Server) outputStream(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
	name := r.PathValue("name")
	if _, err := s.store.Applications().Get(r.Context(), name); err != nil {
		return err
	}
	device := r.URL.Query().Get("device")
	if r.URL.Query().Has("device") {
		if err := validName("query device", device); err != nil {
			return err
		}
	}
	after, resume, err := resumeAfter(r)
	if err != nil {
		return err
	}
	keep := func(o *fleet.OutputRecord) bool { return o.App == name && (device == "" || o.Device == device) }
	seq := uint64(after)
	if !resume {
		_, seq, _, _ = s.gw.OutputSince(^uint64(0), 0, keep) // from now on
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		return fmt.Errorf("streaming unsupported by this connection")
	}
	streaming(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	ctx := r.Context()
	keepalive := time.NewTicker(15 * time.Second)
	defer keepalive.Stop()
	first := true
	for {
		const page = 100
		recs, last, gap, more := s.gw.OutputSince(seq, page, keep)
		if first && gap {
			if _, err := fmt.Fprintf(w, "event: gap\ndata: {\"after\":%d}\n\n", seq); err != nil {
				return nil
			}
		}
		first = false
		for _, rec := range recs {
			b, err := json.Marshal(rec.OutputRecord)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(w, "event: output\nid: %s\ndata: %s\n\n", strconv.FormatUint(rec.Seq, 10), b); err != nil {
				return nil
			}
			seq = rec.Seq
		}
		if len(recs) < page {
			seq = max(seq, last) // the rest of the feed is other apps'
		}
		flusher.Flush()
		if len(recs) == page {
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-more:
		case <-keepalive.C:
			if s.authenticate(r) == nil {
				return nil // the token was revoked or expired
			}
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil {
				return nil
			}
			flusher.Flush()
		}
	}
}
