package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/datasource/schema"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// gatewayDataSource is wasmbed_gateway: a registered gateway (a gateway
// registers itself on first start).
type gatewayDataSource struct{ backend Backend }

var _ datasource.DataSourceWithConfigure = (*gatewayDataSource)(nil)

func NewGatewayDataSource() datasource.DataSource { return &gatewayDataSource{} }

type gatewayDataModel struct {
	Name      types.String `tfsdk:"name"`
	Addresses types.List   `tfsdk:"addresses"`
	Labels    types.Map    `tfsdk:"labels"`
	Capacity  types.Int64  `tfsdk:"capacity"`
}

func (d *gatewayDataSource) Metadata(_ context.Context, req datasource.MetadataRequest, resp *datasource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_gateway"
}

func (d *gatewayDataSource) Schema(_ context.Context, _ datasource.SchemaRequest, resp *datasource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A registered gateway: where devices reach it.",
		Attributes: map[string]schema.Attribute{
			"name":      schema.StringAttribute{Required: true, Validators: nameValidators, Description: "Gateway name."},
			"addresses": schema.ListAttribute{Computed: true, ElementType: types.StringType, Description: "Device endpoints, host:port."},
			"labels":    schema.MapAttribute{Computed: true, ElementType: types.StringType, Description: "Labels."},
			"capacity":  schema.Int64Attribute{Computed: true, Description: "Sessions it is meant to hold; 0: no limit."},
		},
	}
}

func (d *gatewayDataSource) Configure(_ context.Context, req datasource.ConfigureRequest, resp *datasource.ConfigureResponse) {
	d.backend = backendFrom(req.ProviderData, &resp.Diagnostics)
}

func (d *gatewayDataSource) Read(ctx context.Context, req datasource.ReadRequest, resp *datasource.ReadResponse) {
	ctx, end := startOp(ctx, "data.wasmbed_gateway", "read")
	defer end(&resp.Diagnostics)
	var m gatewayDataModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	g, err := d.backend.GetGateway(ctx, m.Name.ValueString())
	if err != nil {
		apiError(&resp.Diagnostics, "Cannot read gateway "+m.Name.ValueString(), err)
		return
	}
	m.Addresses = listValue(g.Addresses, types.ListValueMust(types.StringType, nil))
	m.Labels = mapValue(g.Labels, types.MapValueMust(types.StringType, nil))
	m.Capacity = types.Int64Value(int64(g.Capacity))
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}
