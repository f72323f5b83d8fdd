package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/wasmbed/wasmbed/fleet"
	"github.com/wasmbed/wasmbed/gateway/apiv1"
)

// deviceResource is wasmbed_device: a device registered with the control plane.
type deviceResource struct{ backend Backend }

var (
	_ resource.ResourceWithConfigure   = (*deviceResource)(nil)
	_ resource.ResourceWithImportState = (*deviceResource)(nil)
	_ resource.ResourceWithModifyPlan  = (*deviceResource)(nil)
)

func NewDeviceResource() resource.Resource { return &deviceResource{} }

type deviceModel struct {
	ID           types.String `tfsdk:"id"`
	Name         types.String `tfsdk:"name"`
	Board        types.String `tfsdk:"board"`
	Labels       types.Map    `tfsdk:"labels"`
	Gateway      types.String `tfsdk:"gateway"`
	Phase        types.String `tfsdk:"phase"`
	CertSerial   types.String `tfsdk:"certificate_serial"`
	CertNotAfter types.String `tfsdk:"certificate_not_after"`
}

func (r *deviceResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_device"
}

func (r *deviceResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	observed := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	resp.Schema = schema.Schema{
		Description: "A device registered with the fleet. Registering makes it known; it joins by enrolling with a one-time token (the `wasmbed_enrollment_token` ephemeral resource).\n\n" +
			"Destroying the device revokes every certificate it was given (enrolled, renewed, or signed with `wasmbed_certificate`) and closes its session; " +
			"a device registered again under the same name (a replace) starts with none, so the old certificates stay refused and it must enroll again.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, Description: "The device name.", PlanModifiers: observed},
			"name": schema.StringAttribute{Required: true, Validators: nameValidators,
				Description:   "Device name, also its certificate's subject. Changing it replaces the device.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.RequiresReplace()}},
			"board": schema.StringAttribute{Required: true, Validators: boardValidators,
				Description: "Board profile; decides which modules can run on the device."},
			"labels": schema.MapAttribute{Optional: true, ElementType: types.StringType, Validators: labelValidators,
				Description: "Labels that application selectors match: at most 32, keys and values names (1 to 64 letters, digits, '.', '_' or '-'; a value may be empty), checked at plan. Default: none."},
			"gateway": schema.StringAttribute{Optional: true, Validators: nameValidators,
				Description: "Name of the gateway the device belongs to; it must be registered (`wasmbed_gateway`, or a gateway that registered itself): checked at plan, and at apply. " +
					"For a gateway created in the same configuration, reference its `id` (`wasmbed_gateway.NAME.id`, unknown until it exists) so that the check waits for it. Default: none."},
			"phase": schema.StringAttribute{Computed: true, PlanModifiers: observed,
				Description: "Observed: `registered` (never enrolled), `online`, `offline` or `revoked`; as last read (refresh updates it)."},
			"certificate_serial": schema.StringAttribute{Computed: true, PlanModifiers: observed,
				Description: "Observed: serial (hex) of the device's current certificate; empty before enrollment. A renewed certificate becomes current when the device first opens a session with it."},
			"certificate_not_after": schema.StringAttribute{Computed: true, PlanModifiers: observed,
				Description: "Observed: expiry of the device's current certificate (RFC 3339); empty before enrollment."},
		},
	}
}

func (r *deviceResource) Configure(_ context.Context, req resource.ConfigureRequest, resp *resource.ConfigureResponse) {
	r.backend = backendFrom(req.ProviderData, &resp.Diagnostics)
}

func (m *deviceModel) spec(ctx context.Context, diags *diag.Diagnostics) apiv1.DeviceSpec {
	return apiv1.DeviceSpec{Board: m.Board.ValueString(), Labels: stringMap(ctx, m.Labels, diags), Gateway: m.Gateway.ValueString()}
}

func (m *deviceModel) fill(d *fleet.Device) {
	m.ID, m.Name, m.Board = types.StringValue(d.Name), types.StringValue(d.Name), types.StringValue(d.Board)
	m.Labels = mapValue(d.Labels, m.Labels)
	if d.Gateway != "" || !m.Gateway.IsNull() {
		m.Gateway = types.StringValue(d.Gateway)
	}
	m.Phase = types.StringValue(d.Status.Phase)
	m.CertSerial = types.StringValue(d.Status.CertSerial)
	m.CertNotAfter = types.StringValue("")
	if !d.Status.CertNotAfter.IsZero() {
		m.CertNotAfter = types.StringValue(d.Status.CertNotAfter.UTC().Format(time.RFC3339))
	}
}

func (r *deviceResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	ctx, end := startOp(ctx, "wasmbed_device", "create")
	defer end(&resp.Diagnostics)
	var m deviceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := m.Name.ValueString()
	if _, err := r.backend.GetDevice(ctx, name); err == nil {
		resp.Diagnostics.AddAttributeError(path.Root("name"), "Device already exists",
			"A device named "+name+" is already registered: import it (terraform import) instead of creating it.")
		return
	}
	spec := m.spec(ctx, &resp.Diagnostics)
	if resp.Diagnostics.HasError() || !r.gatewayRegistered(ctx, &m, &resp.Diagnostics) {
		return
	}
	d, err := r.backend.PutDevice(ctx, name, spec)
	if err != nil {
		apiError(&resp.Diagnostics, "Cannot register device "+name, err)
		return
	}
	m.fill(&d)
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// Read refreshes the device. It runs for every device at every plan, so it
// works on the state's Terraform value directly (deviceState): the
// framework's reflection into deviceModel and back cost more than the rest
// of a Read.
func (r *deviceResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	ctx, end := startOp(ctx, "wasmbed_device", "read")
	defer end(&resp.Diagnostics)
	var prior map[string]tftypes.Value
	var id string
	if err := req.State.Raw.As(&prior); err != nil {
		resp.Diagnostics.AddError("Cannot read the state of a device", err.Error())
		return
	}
	if err := prior["id"].As(&id); err != nil {
		resp.Diagnostics.AddError("Cannot read the state of a device", err.Error())
		return
	}
	d, err := readDevice(ctx, r.backend, id)
	if isNotFound(err) {
		resp.State.RemoveResource(ctx) // deleted outside Terraform: plan it again
		return
	}
	if err != nil {
		apiError(&resp.Diagnostics, "Cannot read device "+id, err)
		return
	}
	v, err := deviceState(req.State.Raw.Type(), prior, &d)
	if err != nil {
		resp.Diagnostics.AddError("Cannot write the state of device "+id, err.Error())
		return
	}
	resp.State.Raw = v
}

// deviceState is what fill and State.Set make of d, as a Terraform value of
// type typ (the schema's), given the prior state's attributes: labels and
// gateway stay null when they were and the device has none.
func deviceState(typ tftypes.Type, prior map[string]tftypes.Value, d *fleet.Device) (tftypes.Value, error) {
	str := func(s string) tftypes.Value { return tftypes.NewValue(tftypes.String, s) }
	mapType := tftypes.Map{ElementType: tftypes.String}
	labels := tftypes.NewValue(mapType, nil)
	if len(d.Labels) > 0 || !prior["labels"].IsNull() {
		m := make(map[string]tftypes.Value, len(d.Labels))
		for k, v := range d.Labels {
			m[k] = str(v)
		}
		labels = tftypes.NewValue(mapType, m)
	}
	gw := tftypes.NewValue(tftypes.String, nil)
	if d.Gateway != "" || !prior["gateway"].IsNull() {
		gw = str(d.Gateway)
	}
	notAfter := ""
	if !d.Status.CertNotAfter.IsZero() {
		notAfter = d.Status.CertNotAfter.UTC().Format(time.RFC3339)
	}
	vals := map[string]tftypes.Value{
		"id": str(d.Name), "name": str(d.Name), "board": str(d.Board), "labels": labels, "gateway": gw,
		"phase": str(d.Status.Phase), "certificate_serial": str(d.Status.CertSerial), "certificate_not_after": str(notAfter),
	}
	if err := tftypes.ValidateValue(typ, vals); err != nil {
		return tftypes.Value{}, err
	}
	return tftypes.NewValue(typ, vals), nil
}

func (r *deviceResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	ctx, end := startOp(ctx, "wasmbed_device", "update")
	defer end(&resp.Diagnostics)
	var m deviceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	spec := m.spec(ctx, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	if !r.gatewayRegistered(ctx, &m, &resp.Diagnostics) {
		return
	}
	d, err := r.backend.PutDevice(ctx, m.Name.ValueString(), spec)
	if err != nil {
		apiError(&resp.Diagnostics, "Cannot update device "+m.Name.ValueString(), err)
		return
	}
	// The observed attributes stay as planned (as last read): an update
	// changes none of them, and the next refresh reads them again.
	phase, serial, notAfter := m.Phase, m.CertSerial, m.CertNotAfter
	m.fill(&d)
	if !phase.IsUnknown() {
		m.Phase, m.CertSerial, m.CertNotAfter = phase, serial, notAfter
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

func (r *deviceResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	ctx, end := startOp(ctx, "wasmbed_device", "delete")
	defer end(&resp.Diagnostics)
	var m deviceModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	if err := r.backend.DeleteDevice(ctx, m.ID.ValueString()); err != nil && !isNotFound(err) {
		apiError(&resp.Diagnostics, "Cannot delete device "+m.ID.ValueString(), err)
	}
}

func (r *deviceResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	ctx, end := startOp(ctx, "wasmbed_device", "import")
	defer end(&resp.Diagnostics)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("id"), req.ID)...)
	resp.Diagnostics.Append(resp.State.SetAttribute(ctx, path.Root("name"), req.ID)...)
}

// ModifyPlan refuses, at plan, a gateway that is not registered, when the
// gateway changes (a read; nothing is written).
func (r *deviceResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	ctx, end := startOp(ctx, "wasmbed_device", "plan")
	defer end(&resp.Diagnostics)
	if req.Plan.Raw.IsNull() || r.backend == nil {
		return
	}
	// Only the gateway attribute first: this runs for every device at every
	// plan, and a whole model costs the framework far more to decode.
	var gw, prior types.String
	resp.Diagnostics.Append(req.Plan.GetAttribute(ctx, path.Root("gateway"), &gw)...)
	if !req.State.Raw.IsNull() {
		resp.Diagnostics.Append(req.State.GetAttribute(ctx, path.Root("gateway"), &prior)...)
		if gw.Equal(prior) {
			return
		}
	}
	if resp.Diagnostics.HasError() || gw.IsUnknown() || gw.ValueString() == "" {
		return
	}
	var m deviceModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	r.gatewayRegistered(ctx, &m, &resp.Diagnostics)
}

// gatewayRegistered checks that the gateway m names (if any, and known) is
// registered.
func (r *deviceResource) gatewayRegistered(ctx context.Context, m *deviceModel, diags *diag.Diagnostics) bool {
	gw := m.Gateway.ValueString()
	if m.Gateway.IsUnknown() || gw == "" {
		return true
	}
	_, err := r.backend.GetGateway(ctx, gw)
	switch {
	case isNotFound(err):
		diags.AddAttributeError(path.Root("gateway"), "Gateway "+gw+" is not registered",
			fmt.Sprintf("Device %s names gateway %q, which the fleet does not know. Register it (wasmbed_gateway) or name one that is. "+
				"If wasmbed_gateway creates it in this same configuration, reference its id (gateway = wasmbed_gateway.NAME.id): "+
				"it is unknown until the gateway exists, so the check waits for it.", m.Name.ValueString(), gw))
		return false
	case err != nil:
		apiError(diags, "Cannot read gateway "+gw, err)
		return false
	}
	return true
}
