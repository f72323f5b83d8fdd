# An application made outside Terraform (by the API, or another workspace),
# by name. The plan after the import is empty when the configuration matches
# what the gateway holds: the module is compared by its sha256.
import {
  to = wasmbed_application.sensor
  id = "sensor"
}
