package api

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

func (s *Server) whoami(w http.ResponseWriter, _ *http.Request, who *hashedToken) error {
	return writeJSON(w, http.StatusOK, apiv1.WhoAmI{Name: who.name, Role: who.role})
}

// deviceMetrics serves what a device measured of its apps in its latest
// heartbeat here. A device another gateway serves (Kubernetes mode) reported
// there: 404, naming it.
func (s *Server) deviceMetrics(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
	d, err := s.store.Devices().Get(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	if !s.serves(&d) {
		return &httpError{status: http.StatusNotFound, msg: fmt.Sprintf("device %q is served by gateway %q: its measurements are on that gateway's API", d.Name, d.Gateway)}
	}
	out := apiv1.DeviceMetrics{Device: d.Name, Gateway: s.gw.Config().Name, Apps: []apiv1.AppMetrics{}}
	if m, ok := s.gw.AppMetrics(d.Name); ok {
		at := m.ReportedAt.UTC()
		out.ReportedAt, out.UptimeMS, out.RAMFree = &at, m.UptimeMS, m.RAMFree
		for _, a := range m.Apps {
			out.Apps = append(out.Apps, apiv1.AppMetrics(a))
		}
	}
	return writeJSON(w, http.StatusOK, out)
}

// maxExpiring bounds the certificates a summary lists.
const maxExpiring = 100

// summary counts the devices by phase (live), board and gateway, and lists
// the certificates expiring within ?within_hours= (default a week): one
// read of every device, for the dashboard's overview.
func (s *Server) summary(w http.ResponseWriter, r *http.Request, _ *hashedToken) error {
	hours, err := queryInt(r, "within_hours", 168)
	if err != nil {
		return err
	}
	devs, err := s.store.Devices().List(r.Context())
	if err != nil {
		return err
	}
	apps, err := s.store.Applications().List(r.Context())
	if err != nil {
		return err
	}
	out := apiv1.Summary{Devices: len(devs), Applications: len(apps), ByPhase: map[string]int{}, ByBoard: map[string]int{},
		ByGateway: map[string]int{}, Expiring: []apiv1.ExpiringCertificate{}}
	horizon := time.Now().Add(time.Duration(min(hours, 24*3650)) * time.Hour)
	for i := range devs {
		d := &devs[i]
		s.live(d)
		out.ByPhase[d.Status.Phase]++
		out.ByBoard[d.Board]++
		out.ByGateway[d.Gateway]++
		if d.Status.CertSerial != "" && !d.Status.CertNotAfter.IsZero() && d.Status.CertNotAfter.Before(horizon) && d.Status.Phase != fleet.PhaseRevoked {
			out.Expiring = append(out.Expiring, apiv1.ExpiringCertificate{Device: d.Name, Serial: d.Status.CertSerial, NotAfter: d.Status.CertNotAfter})
		}
	}
	slices.SortFunc(out.Expiring, func(a, b apiv1.ExpiringCertificate) int { return a.NotAfter.Compare(b.NotAfter) })
	out.Expiring = out.Expiring[:min(len(out.Expiring), maxExpiring)]
	return writeJSON(w, http.StatusOK, out)
}
