package gateway

import (
	"fmt"
	"testing"

	"github.com/wasmbed/wasmbed/fleet"
)

// The output feed, swept past its bound: it keeps the last OutputFeedSize
// records, numbered without gaps; a resume point it still holds gets what
// followed, filtered and paged; one it dropped is told as a gap; a reader
// waiting is woken by the next record.
func TestOutputFeedBoundAndResume(t *testing.T) {
	g := &Gateway{}
	all := func(*fleet.OutputRecord) bool { return true }
	_, last, _, more := g.OutputSince(0, 10, all)
	if last != 0 {
		t.Fatalf("empty feed: last %d", last)
	}
	total := OutputFeedSize + 2500
	for i := 0; i < total; i += 500 { // arrivals of 500, as a busy gateway gets them
		batch := make([]fleet.OutputRecord, 500)
		for j := range batch {
			batch[j] = fleet.OutputRecord{App: fmt.Sprint("app-", (i+j)%3), Device: "d", Text: fmt.Sprint(i + j)}
		}
		g.output.publish(batch)
	}
	select {
	case <-more:
	default:
		t.Fatal("a reader waiting was not woken")
	}
	if n := len(g.output.ring); n != OutputFeedSize {
		t.Fatalf("the feed holds %d records, want %d", n, OutputFeedSize)
	}
	for _, c := range []struct {
		after   uint64
		gap     bool
		first   uint64
		matches func(*fleet.OutputRecord) bool
		page    int // records answered (at most 100 asked)
	}{
		{0, true, 2501, all, 100},     // dropped long ago
		{2499, true, 2501, all, 100},  // one record before the feed's first: dropped
		{2500, false, 2501, all, 100}, // the record just before the first: nothing missed
		{uint64(total - 3), false, uint64(total - 2), all, 3},
		{9000, false, 9001, func(o *fleet.OutputRecord) bool { return o.App == "app-0" }, 100}, // record 9001 is "9000", app-0
	} {
		recs, last, gap, _ := g.OutputSince(c.after, 100, c.matches)
		if last != uint64(total) || gap != c.gap || len(recs) == 0 || recs[0].Seq != c.first {
			t.Fatalf("after %d: last %d gap %v first %+v, want last %d gap %v first %d", c.after, last, gap, recs[0], total, c.gap, c.first)
		}
		for i := 1; i < len(recs); i++ {
			if recs[i].Seq <= recs[i-1].Seq || !c.matches(&recs[i].OutputRecord) {
				t.Fatalf("after %d: record %d %+v out of order or not asked for", c.after, i, recs[i])
			}
		}
		if len(recs) != c.page {
			t.Fatalf("after %d: %d records, want %d", c.after, len(recs), c.page)
		}
	}
}
