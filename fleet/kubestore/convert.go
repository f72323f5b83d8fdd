package kubestore

import (
	"maps"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/wasmbed/wasmbed/api/v1alpha1"
	"github.com/wasmbed/wasmbed/fleet"
)

// Annotations the store and the controller keep.
const (
	// AnnotationUpdatedAt keeps the fleet objects' UpdatedAt (their
	// CreatedAt is metadata.creationTimestamp).
	AnnotationUpdatedAt = "fleet.wasmbed.dev/updated-at"
	// AnnotationAssignedBy on a Device says that the controller chose its
	// gateway (nobody asked for one). A write of another gateway removes it.
	AnnotationAssignedBy = "fleet.wasmbed.dev/assigned-by"
	// FinalizerRevokeCertificates holds a deleted Device until the
	// controller has revoked its certificates (kubectl delete, or any
	// other client, is then as safe as the management API's delete).
	FinalizerRevokeCertificates = "fleet.wasmbed.dev/revoke-certificates"
)

// The conversions between fleet's types and the custom resources. ToFleet
// and FromFleet are exact inverses on what a resource can hold: times are
// kept to the microsecond (MicroTime) or second (Time, certificate and token
// expiries), which is what lets the store skip writes that change nothing.

func toTime(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func fromTime(t time.Time) *metav1.Time {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewTime(t.UTC().Truncate(time.Second))
	return &mt
}

func toMicro(t *metav1.MicroTime) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

func fromMicro(t time.Time) *metav1.MicroTime {
	if t.IsZero() {
		return nil
	}
	mt := metav1.NewMicroTime(t.UTC().Truncate(time.Microsecond))
	return &mt
}

func toLabels(l v1alpha1.Labels) map[string]string {
	if len(l) == 0 {
		return nil
	}
	out := make(map[string]string, len(l))
	for k, v := range l {
		out[k] = string(v)
	}
	return out
}

func fromLabels(m map[string]string) v1alpha1.Labels {
	if len(m) == 0 {
		return nil
	}
	out := make(v1alpha1.Labels, len(m))
	for k, v := range m {
		out[k] = v1alpha1.LabelValue(v)
	}
	return out
}

// createdUpdated: UpdatedAt is zero when the writer did not set one (a
// resource made with kubectl).
func createdUpdated(m *metav1.ObjectMeta) (created, updated time.Time) {
	created = m.CreationTimestamp.UTC()
	if s := m.Annotations[AnnotationUpdatedAt]; s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			updated = t.UTC()
		}
	}
	return created, updated
}

func setUpdated(m *metav1.ObjectMeta, t time.Time) {
	if t.IsZero() {
		delete(m.Annotations, AnnotationUpdatedAt)
		return
	}
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	m.Annotations[AnnotationUpdatedAt] = t.UTC().Format(time.RFC3339Nano)
}

// DeviceToFleet converts a Device (without its deployment records).
func DeviceToFleet(o *v1alpha1.Device) fleet.Device {
	st := &o.Status
	d := fleet.Device{Name: o.Name, Board: string(o.Spec.Board), Labels: toLabels(o.Spec.Labels), Gateway: string(o.Spec.Gateway),
		Status: fleet.DeviceStatus{Phase: string(st.Phase), LastSeen: toMicro(st.LastSeen), Firmware: st.Firmware,
			RAMFree: uint32(st.RAMFree), FlashFree: uint32(st.FlashFree), MaxFrame: uint32(st.MaxFrame),
			Features: slices.Clone(st.Features), CertSerial: st.CertSerial, CertNotAfter: toTime(st.CertNotAfter), Message: st.Message,
			Reset: resetToFleet(st.Reset), CertPending: st.CertPending, SessionGateway: string(st.SessionGateway)}}
	d.CreatedAt, d.UpdatedAt = createdUpdated(&o.ObjectMeta)
	return d
}

// DeviceFromFleet writes d's spec and status into o, keeping o's metadata,
// deployment records and health values, and sets the Online condition from the phase
// (once the device enrolled).
func DeviceFromFleet(d fleet.Device, o *v1alpha1.Device) {
	if string(o.Spec.Gateway) != d.Gateway {
		delete(o.Annotations, AnnotationAssignedBy)
	}
	o.Spec = v1alpha1.DeviceSpec{Board: v1alpha1.Board(d.Board), Labels: fromLabels(d.Labels), Gateway: v1alpha1.Name(d.Gateway)}
	setUpdated(&o.ObjectMeta, d.UpdatedAt)
	s := d.Status
	deps, conds, health := o.Status.Deployments, o.Status.Conditions, o.Status.HealthValues
	o.Status = v1alpha1.DeviceStatus{Phase: v1alpha1.DevicePhase(s.Phase), LastSeen: fromMicro(s.LastSeen), Firmware: s.Firmware,
		RAMFree: int64(s.RAMFree), FlashFree: int64(s.FlashFree), MaxFrame: int64(s.MaxFrame), Features: slices.Clone(s.Features),
		CertSerial: s.CertSerial, CertNotAfter: fromTime(s.CertNotAfter), CertPending: s.CertPending, Message: s.Message,
		SessionGateway: v1alpha1.Name(s.SessionGateway), Reset: resetFromFleet(s.Reset), Deployments: deps, HealthValues: health, Conditions: conds}
	if s.Phase != "" && s.Phase != fleet.PhaseRegistered {
		c := metav1.Condition{Type: v1alpha1.ConditionOnline, Status: metav1.ConditionFalse, Reason: reason(s.Phase),
			Message: s.Message, ObservedGeneration: o.Generation}
		if s.Phase == fleet.PhaseOnline {
			c.Status = metav1.ConditionTrue
		}
		meta.SetStatusCondition(&o.Status.Conditions, c)
	}
}

func resetToFleet(r *v1alpha1.ResetStatus) *fleet.ResetStatus {
	if r == nil {
		return nil
	}
	return &fleet.ResetStatus{Cause: r.Cause, Detail: r.Detail, Time: toMicro(r.Time), Boots: uint32(r.Boots),
		Unexpected: uint32(r.Unexpected), SafeMode: r.SafeMode, BootID: uint32(r.BootID)}
}

func resetFromFleet(r *fleet.ResetStatus) *v1alpha1.ResetStatus {
	if r == nil {
		return nil
	}
	return &v1alpha1.ResetStatus{Cause: r.Cause, Detail: r.Detail, Time: fromMicro(r.Time), Boots: int64(r.Boots),
		Unexpected: int64(r.Unexpected), SafeMode: r.SafeMode, BootID: int64(r.BootID)}
}

// reason makes a condition reason (CamelCase) of a fleet word.
func reason(s string) string {
	var b strings.Builder
	up := true
	for _, r := range s {
		switch {
		case r == '_' || r == '-' || r == '.' || r == ' ':
			up = true
		case up && r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
			up = false
		default:
			b.WriteRune(r)
			up = false
		}
	}
	if b.Len() == 0 {
		return "Unknown"
	}
	return b.String()
}

// DeploymentToFleet converts the record of one app on device.
func DeploymentToFleet(device string, r *v1alpha1.DeploymentRecord) fleet.Deployment {
	return fleet.Deployment{App: string(r.App), Device: device, Generation: uint64(r.Generation), Command: r.Command,
		Version: r.Version, SHA256: r.SHA256, SpecHash: r.SpecHash, Running: r.Running, Removing: r.Removing,
		State: r.State, Observed: r.ObservedVersion, Detail: r.Detail, Offset: uint32(r.Offset), UpdatedAt: toMicro(r.UpdatedAt)}
}

// DeploymentFromFleet converts a deployment into a record.
func DeploymentFromFleet(d fleet.Deployment) v1alpha1.DeploymentRecord {
	return v1alpha1.DeploymentRecord{App: v1alpha1.Name(d.App), Generation: int64(d.Generation), Command: d.Command,
		Version: d.Version, SHA256: d.SHA256, SpecHash: d.SpecHash, Running: d.Running, Removing: d.Removing,
		State: d.State, ObservedVersion: d.Observed, Detail: d.Detail, Offset: int64(d.Offset), UpdatedAt: fromMicro(d.UpdatedAt)}
}

// DeploymentsToFleet lists a device's deployments.
func DeploymentsToFleet(o *v1alpha1.Device) []fleet.Deployment {
	out := make([]fleet.Deployment, 0, len(o.Status.Deployments))
	for i := range o.Status.Deployments {
		out = append(out, DeploymentToFleet(o.Name, &o.Status.Deployments[i]))
	}
	return out
}

// setDeployment replaces or adds the record of d.App on o (kept sorted by app).
func setDeployment(o *v1alpha1.Device, d fleet.Deployment) {
	rec := DeploymentFromFleet(d)
	for i := range o.Status.Deployments {
		if string(o.Status.Deployments[i].App) == d.App {
			o.Status.Deployments[i] = rec
			return
		}
	}
	o.Status.Deployments = append(o.Status.Deployments, rec)
	slices.SortFunc(o.Status.Deployments, func(a, b v1alpha1.DeploymentRecord) int { return strings.Compare(string(a.App), string(b.App)) })
}

func findDeployment(o *v1alpha1.Device, app string) int {
	for i := range o.Status.Deployments {
		if string(o.Status.Deployments[i].App) == app {
			return i
		}
	}
	return -1
}

// ApplicationToFleet converts an Application; Generation is its
// metadata.generation (the API server moves it on every spec change).
func ApplicationToFleet(o *v1alpha1.Application) fleet.Application {
	s := &o.Spec
	a := fleet.Application{Name: o.Name, Version: string(s.Version), SHA256: string(s.SHA256), Size: int(s.Size),
		Config:   maps.Clone(map[string]string(s.Config)),
		Limits:   fleet.Limits{Fuel: uint64(s.Limits.Fuel), Memory: uint32(s.Limits.Memory), TickMS: uint32(s.Limits.TickMS)},
		Selector: fleet.Selector{Labels: toLabels(s.Selector.Labels)},
		Rollout:  rolloutToFleet(&s.Rollout),
		Running:  s.Running == nil || *s.Running, Generation: o.Generation,
		Stable: ReleaseToFleet(o.Status.Stable), Progress: ProgressToFleet(o.Status.Rollout),
		History: HistoryToFleet(o.Status.History)}
	if len(a.Config) == 0 {
		a.Config = nil
	}
	for _, b := range s.Selector.Boards {
		a.Selector.Boards = append(a.Selector.Boards, string(b))
	}
	// Never nil here: in Kubernetes mode the controller admits devices to
	// batched rollouts, not the gateways' own counts.
	a.Admission = &fleet.Admission{}
	if adm := o.Status.Admission; adm != nil {
		a.Admission.SpecHash, a.Admission.Devices = adm.SpecHash, slices.Clone(adm.Devices)
	}
	a.CreatedAt, a.UpdatedAt = createdUpdated(&o.ObjectMeta)
	return a
}

// ApplicationFromFleet writes a's spec, Stable and Progress into o (its
// Generation is the API server's to set).
func ApplicationFromFleet(a fleet.Application, o *v1alpha1.Application) {
	running := a.Running
	o.Spec = v1alpha1.ApplicationSpec{Version: v1alpha1.Version(a.Version), SHA256: v1alpha1.SHA256(a.SHA256), Size: int64(a.Size),
		Limits:   v1alpha1.Limits{Fuel: int64(a.Limits.Fuel), Memory: int64(a.Limits.Memory), TickMS: int64(a.Limits.TickMS)},
		Selector: v1alpha1.Selector{Labels: fromLabels(a.Selector.Labels)},
		Rollout:  rolloutFromFleet(a.Rollout),
		Running:  &running}
	// The status the fleet holds: the rollout's progress and the stable
	// release (the controller's other fields stay).
	o.Status.Stable, o.Status.Rollout = ReleaseFromFleet(a.Stable), ProgressFromFleet(a.Progress)
	if len(a.Config) > 0 {
		o.Spec.Config = maps.Clone(a.Config)
	}
	for _, b := range a.Selector.Boards {
		o.Spec.Selector.Boards = append(o.Spec.Selector.Boards, v1alpha1.Board(b))
	}
	setUpdated(&o.ObjectMeta, a.UpdatedAt)
}

// GatewayToFleet converts a Gateway.
func GatewayToFleet(o *v1alpha1.Gateway) fleet.Gateway {
	g := fleet.Gateway{Name: o.Name, Labels: toLabels(o.Spec.Labels), Capacity: int(o.Spec.Capacity)}
	for _, a := range o.Spec.Addresses {
		g.Addresses = append(g.Addresses, string(a))
	}
	g.CreatedAt, g.UpdatedAt = createdUpdated(&o.ObjectMeta)
	return g
}

// GatewayFromFleet writes g's spec into o.
func GatewayFromFleet(g fleet.Gateway, o *v1alpha1.Gateway) {
	o.Spec = v1alpha1.GatewaySpec{Labels: fromLabels(g.Labels), Capacity: int32(g.Capacity)}
	for _, a := range g.Addresses {
		o.Spec.Addresses = append(o.Spec.Addresses, v1alpha1.Address(a))
	}
	setUpdated(&o.ObjectMeta, g.UpdatedAt)
}

// TokenToFleet converts an EnrollmentToken (named by the token's id).
func TokenToFleet(o *v1alpha1.EnrollmentToken) fleet.EnrollmentToken {
	return fleet.EnrollmentToken{ID: o.Name, Device: string(o.Spec.Device), Hash: string(o.Spec.Hash),
		ExpiresAt: o.Spec.ExpiresAt.UTC(), UsedAt: toTime(o.Status.UsedAt), CreatedAt: o.CreationTimestamp.UTC(),
		UsedKey: o.Status.UsedKey, UsedSerial: o.Status.UsedSerial}
}

// TokenFromFleet writes t into o.
func TokenFromFleet(t fleet.EnrollmentToken, o *v1alpha1.EnrollmentToken) {
	o.Spec = v1alpha1.EnrollmentTokenSpec{Device: v1alpha1.Name(t.Device), Hash: v1alpha1.SHA256(t.Hash),
		ExpiresAt: metav1.NewTime(ceilSecond(t.ExpiresAt.UTC()))}
	o.Status.UsedAt = fromTime(t.UsedAt)
	o.Status.UsedKey, o.Status.UsedSerial = t.UsedKey, t.UsedSerial
}

// ceilSecond rounds t up to a whole second (a resource keeps no more): a
// token stored here is never valid for less than it was minted for.
func ceilSecond(t time.Time) time.Time {
	if s := t.Truncate(time.Second); !s.Equal(t) {
		return s.Add(time.Second)
	}
	return t
}

// RevocationToFleet converts a CertificateRevocation (named by the serial).
func RevocationToFleet(o *v1alpha1.CertificateRevocation) fleet.Revocation {
	return fleet.Revocation{Serial: o.Name, Device: string(o.Spec.Device), Reason: o.Spec.Reason, RevokedAt: o.Spec.RevokedAt.UTC()}
}

// RevocationFromFleet writes r into o.
func RevocationFromFleet(r fleet.Revocation, o *v1alpha1.CertificateRevocation) {
	o.Spec = v1alpha1.CertificateRevocationSpec{Device: v1alpha1.Name(r.Device), Reason: r.Reason,
		RevokedAt: metav1.NewTime(r.RevokedAt.UTC().Truncate(time.Second))}
}

// CertificateToFleet converts a DeviceCertificate (named by the serial).
func CertificateToFleet(o *v1alpha1.DeviceCertificate) fleet.Certificate {
	return fleet.Certificate{Serial: o.Name, Device: string(o.Spec.Device), Source: o.Spec.Source,
		NotBefore: toTime(o.Spec.NotBefore), NotAfter: o.Spec.NotAfter.UTC(), IssuedAt: o.Spec.IssuedAt.UTC(),
		State: o.Spec.State, Renews: o.Spec.Renews, Reason: o.Spec.Reason, ChangedAt: toTime(o.Spec.ChangedAt)}
}

// CertificateFromFleet writes c into o.
func CertificateFromFleet(c fleet.Certificate, o *v1alpha1.DeviceCertificate) {
	o.Spec = v1alpha1.DeviceCertificateSpec{Device: v1alpha1.Name(c.Device), Source: c.Source,
		NotBefore: fromTime(c.NotBefore), NotAfter: metav1.NewTime(c.NotAfter.UTC().Truncate(time.Second)),
		IssuedAt: metav1.NewTime(c.IssuedAt.UTC().Truncate(time.Second)), State: c.State, Renews: c.Renews, Reason: c.Reason,
		ChangedAt: fromTime(c.ChangedAt)}
}
