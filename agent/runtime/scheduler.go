package runtime

import (
	"container/heap"
	"sync"
	"time"
)

// scheduler runs the ticks of every app of every device on a few workers:
// one dispatcher goroutine keeps a heap of due times, and Workers goroutines
// make the calls. An app is in the heap or in a worker, never both, so its
// calls never overlap; Stop invalidates its pending entry by bumping the
// app's epoch.
type scheduler struct {
	mu      sync.Mutex
	h       entries
	wake    chan struct{}
	work    chan entry
	quit    chan struct{}
	wg      sync.WaitGroup
	stopped bool
}

type entry struct {
	due   time.Time
	app   *app
	epoch uint64
}

type entries []entry

func (h entries) Len() int           { return len(h) }
func (h entries) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h entries) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *entries) Push(x any)        { *h = append(*h, x.(entry)) }
func (h *entries) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = entry{}
	*h = old[:len(old)-1]
	return e
}

func newScheduler(workers int) *scheduler {
	s := &scheduler{
		wake: make(chan struct{}, 1),
		work: make(chan entry),
		quit: make(chan struct{}),
	}
	s.wg.Add(1 + workers)
	go s.dispatch()
	for range workers {
		go func() {
			defer s.wg.Done()
			for en := range s.work {
				en.app.runTick(en.epoch, en.due)
			}
		}()
	}
	return s
}

// add schedules a tick of a at due, valid while a's epoch is epoch.
func (s *scheduler) add(a *app, due time.Time, epoch uint64) {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	heap.Push(&s.h, entry{due: due, app: a, epoch: epoch})
	first := s.h[0].app == a && s.h[0].epoch == epoch && s.h[0].due.Equal(due)
	s.mu.Unlock()
	if first {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// pending is the number of scheduled ticks, stale ones included.
func (s *scheduler) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.h)
}

func (s *scheduler) dispatch() {
	defer s.wg.Done()
	defer close(s.work)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		s.mu.Lock()
		var wait time.Duration = -1
		var en entry
		ready := false
		for len(s.h) > 0 {
			top := s.h[0]
			if top.app.epochNow() != top.epoch { // stopped since: drop
				heap.Pop(&s.h)
				continue
			}
			if d := time.Until(top.due); d > 0 {
				wait = d
				break
			}
			en = heap.Pop(&s.h).(entry)
			ready = true
			break
		}
		s.mu.Unlock()
		if ready {
			select {
			case s.work <- en:
			case <-s.quit:
				return
			}
			continue
		}
		if wait < 0 {
			wait = time.Hour
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-s.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		case <-s.quit:
			return
		}
	}
}

// close stops dispatching and waits for the workers' calls to end (Engine
// cancels them first).
func (s *scheduler) close() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	s.h = nil
	s.mu.Unlock()
	close(s.quit)
	s.wg.Wait()
}
