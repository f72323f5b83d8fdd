package fleet

import "testing"

func TestSameBoot(t *testing.T) {
	boot := func(id uint32) *ResetStatus { return &ResetStatus{Cause: "power_on", Boots: 1, BootID: id} }
	for _, c := range []struct {
		what string
		s, r *ResetStatus
		same bool
	}{
		{"nothing recorded", nil, boot(1), false},
		{"the same boot id", boot(1), boot(1), true},
		{"a new boot id: a power cut", boot(1), boot(2), false},
		{"no boot ids: the old comparison", boot(0), boot(0), true},
		{"recorded without one", boot(0), boot(2), true},
		{"reported without one", boot(1), boot(0), true},
		{"the same boot id, another count", boot(1), &ResetStatus{Cause: "power_on", Boots: 2, BootID: 1}, false},
		{"another cause", boot(0), &ResetStatus{Cause: "watchdog", Boots: 1}, false},
	} {
		if got := c.s.SameBoot(c.r); got != c.same {
			t.Errorf("%s: SameBoot %v", c.what, got)
		}
	}
}
