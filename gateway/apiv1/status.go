package apiv1

import (
	"time"

	"github.com/wasmbed/wasmbed/fleet"
)

// BuildApplicationStatus is the rollout status of a over the fleet's devices
// and deployments at now, as the API reports it: every selected device (and
// any still holding the app), with online telling whether a device holds a
// session. Both backends (the gateway's API and the provider's kubernetes
// backend) answer with it.
func BuildApplicationStatus(a *fleet.Application, devs []fleet.Device, deps []fleet.Deployment, online func(*fleet.Device) bool, now time.Time) ApplicationStatus {
	byDevice := map[string]fleet.Deployment{}
	for _, d := range deps {
		if d.App == a.Name && !d.Tombstone() {
			byDevice[d.Device] = d
		}
	}
	hash := fleet.SpecHash(a)
	out := []DeviceRollout{}
	selected := 0
	for i := range devs {
		d := &devs[i]
		matches := a.Selector.Matches(d)
		if matches {
			selected++
		}
		dep, has := byDevice[d.Name]
		if !matches && !has {
			continue
		}
		row := DeviceRollout{Device: d.Name, Online: online(d), State: "pending"}
		if has {
			row.State, row.Version, row.Observed, row.Generation = dep.State, dep.Version, dep.Observed, dep.Generation
			row.Current, row.Detail, row.UpdatedAt = dep.SpecHash == hash && !dep.Removing, dep.Detail, dep.UpdatedAt
			if dep.Removing {
				row.State = "removing"
				if dep.State == "removed" {
					row.State = "removed"
				}
			}
		}
		out = append(out, row)
	}
	count := fleet.CountRollout(a, deps, now)
	st := ApplicationStatus{Application: a.Name, Version: a.Version, Generation: a.Generation, Selected: selected,
		Updated: count.Updated, InProgress: count.InProgress, Failed: count.Failed, Converged: count.Updated == selected, Devices: out,
		Rollout: a.CurrentProgress()}
	if a.Stable != nil {
		st.StableVersion = a.Stable.Version
	}
	return st
}

// FilterDeployments keeps the deployments of app and of device (when not
// empty), leaving out the tombstones of removed apps.
func FilterDeployments(deps []fleet.Deployment, app, device string) []fleet.Deployment {
	out := []fleet.Deployment{}
	for _, d := range deps {
		if (app == "" || d.App == app) && (device == "" || d.Device == device) && !d.Tombstone() {
			out = append(out, d)
		}
	}
	return out
}
