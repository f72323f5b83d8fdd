package gateway

import (
	"sync"

	"github.com/wasmbed/wasmbed/fleet"
)

// The output feed: the apps' log lines and published values as the gateway
// receives them, numbered in arrival order and kept in memory for the last
// OutputFeedSize records, so that a stream (GET
// /v1/applications/{name}/output/stream) can follow them live and resume
// after a reconnection (Last-Event-ID). The store keeps the latest 200 per
// app and device for good; the feed is what a stream can resume from.

// OutputFeedSize bounds the records a stream can resume from.
const OutputFeedSize = 10000

// FedRecord is an output record with its place in the feed.
type FedRecord struct {
	Seq uint64 `json:"seq"`
	fleet.OutputRecord
}

type outputFeed struct {
	mu      sync.Mutex
	ring    []FedRecord // oldest first, at most OutputFeedSize
	next    uint64      // the Seq the next record gets (from 1)
	changed chan struct{}
}

func (f *outputFeed) publish(recs []fleet.OutputRecord) {
	if len(recs) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.next == 0 {
		f.next = 1
	}
	for _, r := range recs {
		f.ring = append(f.ring, FedRecord{Seq: f.next, OutputRecord: r})
		f.next++
	}
	if over := len(f.ring) - OutputFeedSize; over > 0 {
		f.ring = append(f.ring[:0], f.ring[over:]...)
	}
	if f.changed != nil {
		close(f.changed)
		f.changed = nil
	}
}

// OutputSince returns the records after seq that keep says to, at most
// limit, the feed's last sequence number, whether records after seq were
// dropped from the feed before they could be read (a gap), and a channel
// closed when more arrive.
func (g *Gateway) OutputSince(seq uint64, limit int, keep func(*fleet.OutputRecord) bool) (recs []FedRecord, last uint64, gap bool, more <-chan struct{}) {
	f := &g.output
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.changed == nil {
		f.changed = make(chan struct{})
	}
	if f.next > 0 {
		last = f.next - 1
	}
	if len(f.ring) > 0 && seq+1 < f.ring[0].Seq {
		gap = true
	}
	for i := range f.ring {
		r := &f.ring[i]
		if r.Seq <= seq || !keep(&r.OutputRecord) {
			continue
		}
		if len(recs) == limit {
			break
		}
		recs = append(recs, *r)
	}
	return recs, last, gap, f.changed
}
