module wasmtaps.local/guest

go 1.24
