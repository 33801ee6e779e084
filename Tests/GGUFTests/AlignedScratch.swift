/// `floats` floats of kernel scratch, 64-byte aligned as the forward pass's buffers are (the
/// kernels pack and load it with aligned vector loads). Not initialised; the caller deallocates.
func alignedScratch(floats: Int) -> UnsafeMutablePointer<Float> {
    UnsafeMutableRawPointer.allocate(byteCount: 4 * floats, alignment: 64).bindMemory(to: Float.self, capacity: floats)
}
