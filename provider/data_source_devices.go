package provider

import (
	"context"
	"sort"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// devicesDataSource is wasmbed_devices: devices matching labels, board and phase.
type devicesDataSource struct{ backend Backend }

var _ datasource.DataSourceWithConfigure = (*devicesDataSource)(nil)

func NewDevicesDataSource() datasource.DataSource { return &devicesDataSource{} }

type devicesModel struct {
	Labels  types.Map         `tfsdk:"labels"`
	Board   types.String      `tfsdk:"board"`
	Phase   types.String      `tfsdk:"phase"`
	Devices []deviceItemModel `tfsdk:"devices"`
}

type deviceItemModel struct {
	Name    types.String `tfsdk:"name"`
	Board   types.String `tfsdk:"board"`
	Labels  types.Map    `tfsdk:"labels"`
	Gateway types.String `tfsdk:"gateway"`
	Phase   types.String `tfsdk:"phase"`
}

func (d *devicesDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_devices"
}

func (d *devicesDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "Devices of the fleet, filtered by labels, board and phase.",
		Attributes: map[string]schema.Attribute{
			"labels": schema.MapAttribute{Optional: true, ElementType: types.StringType, Validators: labelValidators, Description: "Labels a device must have. Default: none (any labels)."},
			"board":  schema.StringAttribute{Optional: true, Validators: boardValidators, Description: "Only devices of this board. Default: any board."},
			"phase":  schema.StringAttribute{Optional: true, Description: "Only devices in this phase: registered, online, offline or revoked. Default: any phase."},
			"devices": schema.ListNestedAttribute{Computed: true, Description: "The devices, by name.",
				NestedObject: schema.NestedAttributeObject{Attributes: map[string]schema.Attribute{
					"name":    schema.StringAttribute{Computed: true, Description: "Device name."},
					"board":   schema.StringAttribute{Computed: true, Description: "Board profile."},
					"labels":  schema.MapAttribute{Computed: true, ElementType: types.StringType, Description: "Labels (an empty map when none)."},
					"gateway": schema.StringAttribute{Computed: true, Description: "Gateway the device belongs to; empty when none is set."},
					"phase":   schema.StringAttribute{Computed: true, Description: "Observed: `registered` (never enrolled), `online`, `offline` or `revoked`."},
				}}},
		},
	}
}

func (d *devicesDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.backend = backendFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *devicesDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	ctx, end := startOp(ctx, "data.wasmbed_devices", "read")
	defer end(&resp.Diagnostics)
	var m devicesModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	devs, err := d.backend.ListDevices(ctx, apiv1.DeviceFilter{Board: m.Board.ValueString(), Phase: m.Phase.ValueString(),
		Labels: stringMap(ctx, m.Labels, &resp.Diagnostics)})
	if err != nil {
		apiError(&resp.Diagnostics, "Cannot list devices", err)
		return
	}
	sort.Slice(devs, func(i, j int) bool { return devs[i].Name < devs[j].Name })
	m.Devices = []deviceItemModel{}
	for _, dv := range devs {
		m.Devices = append(m.Devices, deviceItemModel{Name: types.StringValue(dv.Name), Board: types.StringValue(dv.Board),
			Labels: mapValue(dv.Labels, types.MapValueMust(types.StringType, nil)), Gateway: types.StringValue(dv.Gateway),
			Phase: types.StringValue(dv.Status.Phase)})
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
