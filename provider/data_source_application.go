package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// applicationDataSource is wasmbed_application: an application's rollout,
// device by device.
type applicationDataSource struct{ backend Backend }

var _ datasource.DataSourceWithConfigure = (*applicationDataSource)(nil)

func NewApplicationDataSource() datasource.DataSource { return &applicationDataSource{} }

type applicationStatusModel struct {
	Name       types.String         `tfsdk:"name"`
	Version    types.String         `tfsdk:"version"`
	Generation types.Int64          `tfsdk:"generation"`
	Selected   types.Int64          `tfsdk:"selected"`
	Updated    types.Int64          `tfsdk:"updated"`
	InProgress types.Int64          `tfsdk:"in_progress"`
	Failed     types.Int64          `tfsdk:"failed"`
	Converged  types.Bool           `tfsdk:"converged"`
	Devices    []deviceRolloutModel `tfsdk:"devices"`
	Rollout    *rolloutStatusModel  `tfsdk:"rollout"`
	Stable     types.String         `tfsdk:"stable_version"`
}

// rolloutStatusModel is where a progressive rollout stands.
type rolloutStatusModel struct {
	Phase        types.String          `tfsdk:"phase"`
	Version      types.String          `tfsdk:"version"`
	Step         types.Int64           `tfsdk:"step"`
	Steps        types.Int64           `tfsdk:"steps"`
	Target       types.Int64           `tfsdk:"target"`
	Updated      types.Int64           `tfsdk:"updated"`
	Failed       types.Int64           `tfsdk:"failed"`
	BakeUntil    types.String          `tfsdk:"bake_until"`
	Reason       types.String          `tfsdk:"reason"`
	RolledBackTo types.String          `tfsdk:"rolled_back_to"`
	Failures     []rolloutFailureModel `tfsdk:"failures"`
}

type rolloutFailureModel struct {
	Device   types.String `tfsdk:"device"`
	Step     types.Int64  `tfsdk:"step"`
	Reason   types.String `tfsdk:"reason"`
	Accepted types.Bool   `tfsdk:"accepted"`
}

type deviceRolloutModel struct {
	Device          types.String `tfsdk:"device"`
	Online          types.Bool   `tfsdk:"online"`
	State           types.String `tfsdk:"state"`
	ObservedVersion types.String `tfsdk:"observed_version"`
	Current         types.Bool   `tfsdk:"current"`
	Detail          types.String `tfsdk:"detail"`
}

func (d *applicationDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_application"
}

func (d *applicationDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	computed := func(desc string) schema.Attribute { return schema.Int64Attribute{Computed: true, Description: desc} }
	resp.Schema = schema.Schema{
		Description: "An application's rollout status, per device.",
		Attributes: map[string]schema.Attribute{
			"name":        schema.StringAttribute{Required: true, Validators: nameValidators, Description: "Application name."},
			"version":     schema.StringAttribute{Computed: true, Description: "Desired version."},
			"generation":  computed("Generation of the application's spec."),
			"selected":    computed("Devices the selector matches."),
			"updated":     computed("Devices running (or holding, if stopped) the current spec."),
			"in_progress": computed("Devices the current spec was sent to that have not settled."),
			"failed":      computed("Devices where the app trapped, ran out of fuel or memory, or failed to install."),
			"converged":   schema.BoolAttribute{Computed: true, Description: "Every selected device is updated."},
			"devices": schema.ListNestedAttribute{Computed: true, Description: "Each selected device (and any still holding the app).",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"device":           schema.StringAttribute{Computed: true, Description: "Device name."},
					"online":           schema.BoolAttribute{Computed: true, Description: "The device holds a session now."},
					"state":            schema.StringAttribute{Computed: true, Description: "pending, downloading, installed, running, stopped, trapped, fuel_exhausted, out_of_memory, failed, removing or removed."},
					"observed_version": schema.StringAttribute{Computed: true, Description: "The version the device last reported for the app; empty before it reported one."},
					"current":          schema.BoolAttribute{Computed: true, Description: "The device was sent the current spec."},
					"detail":           schema.StringAttribute{Computed: true, Description: "Why, for failed states."},
				}}},
			"rollout": schema.SingleNestedAttribute{Computed: true,
				Description: "The progressive rollout (`rollout.steps`) of the current version; null without steps, or before the gateway starts it.",
				Attributes: map[string]schema.Attribute{
					"phase":   schema.StringAttribute{Computed: true, Description: "`rolling_out`, `paused`, `rolled_back` or `completed`."},
					"version": schema.StringAttribute{Computed: true, Description: "The version rolled out."},
					"step":    schema.Int64Attribute{Computed: true, Description: "The current step, from 1."},
					"steps":   schema.Int64Attribute{Computed: true, Description: "Steps in all (a last step of every device is implied)."},
					"target":  schema.Int64Attribute{Computed: true, Description: "Devices the current step lets run the version."},
					"updated": schema.Int64Attribute{Computed: true, Description: "Devices running the version."},
					"failed":  schema.Int64Attribute{Computed: true, Description: "Failed devices not accepted by an operator."},
					"bake_until": schema.StringAttribute{Computed: true,
						Description: "When the current step's bake ends (RFC 3339), once all its devices are updated; empty otherwise."},
					"reason":         schema.StringAttribute{Computed: true, Description: "Why the rollout paused or rolled back."},
					"rolled_back_to": schema.StringAttribute{Computed: true, Description: "The version the devices went back to (empty: the app was removed from them)."},
					"failures": schema.ListNestedAttribute{Computed: true, Description: "Devices that failed a health gate.",
						NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
							"device":   schema.StringAttribute{Computed: true, Description: "Device name."},
							"step":     schema.Int64Attribute{Computed: true, Description: "The step under way when it failed."},
							"reason":   schema.StringAttribute{Computed: true, Description: "Why: trapped, out of fuel or memory, crashed, reset, stopped heartbeating, health value."},
							"accepted": schema.BoolAttribute{Computed: true, Description: "An operator resumed or promoted past it."},
						}}},
				}},
			"stable_version": schema.StringAttribute{Computed: true, Description: "The last version whose rollout passed: where a rollback takes the devices."},
		},
	}
}

func (d *applicationDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.backend = backendFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *applicationDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	ctx, end := startOp(ctx, "data.wasmbed_application", "read")
	defer end(&resp.Diagnostics)
	var m applicationStatusModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	st, err := d.backend.ApplicationStatus(ctx, m.Name.ValueString())
	if err != nil {
		apiError(&resp.Diagnostics, "Cannot read application "+m.Name.ValueString(), err)
		return
	}
	m.Version, m.Generation = types.StringValue(st.Version), types.Int64Value(st.Generation)
	m.Selected, m.Updated = types.Int64Value(int64(st.Selected)), types.Int64Value(int64(st.Updated))
	m.InProgress, m.Failed = types.Int64Value(int64(st.InProgress)), types.Int64Value(int64(st.Failed))
	m.Converged = types.BoolValue(st.Converged)
	m.Devices = []deviceRolloutModel{}
	for _, r := range st.Devices {
		m.Devices = append(m.Devices, deviceRolloutModel{Device: types.StringValue(r.Device), Online: types.BoolValue(r.Online),
			State: types.StringValue(r.State), ObservedVersion: types.StringValue(r.Observed), Current: types.BoolValue(r.Current),
			Detail: types.StringValue(r.Detail)})
	}
	m.Stable = types.StringValue(st.StableVersion)
	m.Rollout = nil
	if p := st.Rollout; p != nil {
		rs := &rolloutStatusModel{Phase: types.StringValue(p.Phase), Version: types.StringValue(p.Version), Step: types.Int64Value(int64(p.Step)),
			Steps: types.Int64Value(int64(p.Steps)), Target: types.Int64Value(int64(p.Target)), Updated: types.Int64Value(int64(p.Updated)),
			Failed: types.Int64Value(int64(p.Failed)), BakeUntil: types.StringValue(""), Reason: types.StringValue(p.Reason),
			RolledBackTo: types.StringValue(p.RolledBackTo), Failures: []rolloutFailureModel{}}
		if !p.BakeUntil.IsZero() {
			rs.BakeUntil = types.StringValue(p.BakeUntil.UTC().Format(time.RFC3339))
		}
		for _, f := range p.Failures {
			rs.Failures = append(rs.Failures, rolloutFailureModel{Device: types.StringValue(f.Device), Step: types.Int64Value(int64(f.Step)),
				Reason: types.StringValue(f.Reason), Accepted: types.BoolValue(f.Accepted)})
		}
		m.Rollout = rs
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
