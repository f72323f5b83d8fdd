package provider

import (
	"context"

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
					"device":           schema.StringAttribute{Computed: true},
					"online":           schema.BoolAttribute{Computed: true},
					"state":            schema.StringAttribute{Computed: true, Description: "pending, downloading, installed, running, stopped, trapped, fuel_exhausted, out_of_memory, failed, removing or removed."},
					"observed_version": schema.StringAttribute{Computed: true},
					"current":          schema.BoolAttribute{Computed: true, Description: "The device was sent the current spec."},
					"detail":           schema.StringAttribute{Computed: true, Description: "Why, for failed states."},
				}}},
		},
	}
}

func (d *applicationDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.backend = backendFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *applicationDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
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
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
