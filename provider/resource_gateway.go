package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework-validators/int64validator"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64default"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/schema/validator"
	"github.com/hashicorp/terraform-plugin-framework/types"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// gatewayResource is wasmbed_gateway: a gateway's registration.
type gatewayResource struct{ backend Backend }

var (
	_ resource.ResourceWithConfigure   = (*gatewayResource)(nil)
	_ resource.ResourceWithImportState = (*gatewayResource)(nil)
)

func NewGatewayResource() resource.Resource { return &gatewayResource{} }

type gatewayModel struct {
	ID        types.String `tfsdk:"id"`
	Name      types.String `tfsdk:"name"`
	Addresses types.List   `tfsdk:"addresses"`
	Labels    types.Map    `tfsdk:"labels"`
	Capacity  types.Int64  `tfsdk:"capacity"`
}

func (r *gatewayResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_gateway"
}

func (r *gatewayResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = schema.Schema{
		Description: "A gateway's registration: where devices reach it, its labels and how many sessions it is meant to hold.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, Description: "The gateway name.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"name": schema.StringAttribute{Required: true, Validators: nameValidators, Description: "Gateway name.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}},
			"addresses": schema.ListAttribute{Required: true, ElementType: types.StringType,
				Description: "Device endpoints, `host:port`."},
			"labels": schema.MapAttribute{Optional: true, ElementType: types.StringType, Validators: labelValidators, Description: "Labels (checked at plan like device labels). Default: none."},
			"capacity": schema.Int64Attribute{Optional: true, Computed: true, Default: int64default.StaticInt64(0),
				Validators:  []validator.Int64{int64validator.AtLeast(0)},
				Description: "Device sessions the gateway is meant to hold; 0 means no limit. Default: 0."},
		},
	}
}

func (r *gatewayResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.backend = backendFrom(req.ProviderData, &resp.Diagnostics)
}

func (m *gatewayModel) spec(ctx context.Context, diags *diag.Diagnostics) apiv1.GatewaySpec {
	return apiv1.GatewaySpec{Addresses: stringList(ctx, m.Addresses, diags), Labels: stringMap(ctx, m.Labels, diags),
		Capacity: int(m.Capacity.ValueInt64())}
}

func (m *gatewayModel) fill(g *fleet.Gateway) {
	m.ID, m.Name = types.StringValue(g.Name), types.StringValue(g.Name)
	m.Addresses = listValue(g.Addresses, types.ListValueMust(types.StringType, nil))
	m.Labels = mapValue(g.Labels, m.Labels)
	m.Capacity = types.Int64Value(int64(g.Capacity))
}

func (r *gatewayResource) write(ctx context.Context, m *gatewayModel, diags *diag.Diagnostics) {
	spec := m.spec(ctx, diags)
	if diags.HasError() {
		return
	}
	g, err := r.backend.PutGateway(ctx, m.Name.ValueString(), spec)
	if err != nil {
		apiError(diags, "Cannot write gateway "+m.Name.ValueString(), err)
		return
	}
	m.fill(&g)
}

func (r *gatewayResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	ctx, end := startOp(ctx, "wasmbed_gateway", "create")
	defer end(&resp.Diagnostics)
	var m gatewayModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if _, err := r.backend.GetGateway(ctx, m.Name.ValueString()); err == nil {
		resp.Diagnostics.AddAttributeError(path.Root("name"), "Gateway already registered",
			"A gateway named "+m.Name.ValueString()+" exists (a gateway registers itself on first start): import it (terraform import) instead.")
		return
	}
	r.write(ctx, &m, &resp.Diagnostics)
	if !resp.Diagnostics.HasError() {
		resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
	}
}

func (r *gatewayResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	ctx, end := startOp(ctx, "wasmbed_gateway", "read")
	defer end(&resp.Diagnostics)
	var m gatewayModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	g, err := r.backend.GetGateway(ctx, m.ID.ValueString())
	if isNotFound(err) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		apiError(&resp.Diagnostics, "Cannot read gateway "+m.ID.ValueString(), err)
		return
	}
	m.fill(&g)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *gatewayResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	ctx, end := startOp(ctx, "wasmbed_gateway", "update")
	defer end(&resp.Diagnostics)
	var m gatewayModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	r.write(ctx, &m, &resp.Diagnostics)
	if !resp.Diagnostics.HasError() {
		resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
	}
}

func (r *gatewayResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	ctx, end := startOp(ctx, "wasmbed_gateway", "delete")
	defer end(&resp.Diagnostics)
	var m gatewayModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.backend.DeleteGateway(ctx, m.ID.ValueString()); err != nil && !isNotFound(err) {
		apiError(&resp.Diagnostics, "Cannot delete gateway "+m.ID.ValueString(), err)
	}
}

func (r *gatewayResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	ctx, end := startOp(ctx, "wasmbed_gateway", "import")
	defer end(&resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), req.ID)...)
}
