terraform import wasmbed_device.greenhouse_1 greenhouse-1
