import Foundation
import Testing
import Kernels
import GGUF

/// Each block layout decoded by hand from ../shared/docs/gguf-and-llamacpp.md §1.2.
@Suite struct DequantizeTests {
    func f16(_ x: Float) -> [UInt8] {
        let bits = Float16(x).bitPattern
        return [UInt8(bits & 0xFF), UInt8(bits >> 8)]
    }

    func decode(_ type: GGMLType, _ block: [UInt8], count: Int) -> [Float] {
        var out = [Float](repeating: .nan, count: count)
        let status = block.withUnsafeBytes { raw in
            out.withUnsafeMutableBufferPointer { lr_dequantize_row(type.rawValue, raw.baseAddress, $0.baseAddress, Int64(count)) }
        }
        #expect(status == 0)
        return out
    }

    @Test func q8_0() {
        let qs = (0..<32).map { Int8($0 - 16) }
        let block = f16(0.5) + qs.map { UInt8(bitPattern: $0) }
        #expect(decode(.q8_0, block, count: 32) == qs.map { Float($0) * 0.5 })
    }

    @Test func q4_0LowNibblesFirst() {
        let qs = (0..<16).map { UInt8($0) | UInt8(15 - $0) << 4 }
        let y = decode(.q4_0, f16(2) + qs, count: 32)
        for j in 0..<16 {
            #expect(y[j] == Float(j - 8) * 2)
            #expect(y[j + 16] == Float(15 - j - 8) * 2)
        }
    }

    @Test func q4_1AddsTheMinimum() {
        let qs = [UInt8](repeating: 0x31, count: 16)   // low 1, high 3
        let y = decode(.q4_1, f16(0.25) + f16(-1) + qs, count: 32)
        #expect(y[0] == 1 * 0.25 - 1)
        #expect(y[16] == 3 * 0.25 - 1)
    }

    @Test func q5_0FifthBitFromQh() {
        // qh bit 0 set: element 0 gets +16; bit 16 set: element 16 gets +16.
        let qh: [UInt8] = [0x01, 0x00, 0x01, 0x00]
        let qs = [UInt8](repeating: 0x00, count: 16)
        let y = decode(.q5_0, f16(1) + qh + qs, count: 32)
        #expect(y[0] == 0)       // (0 | 16) − 16
        #expect(y[1] == -16)
        #expect(y[16] == 0)
        #expect(y[17] == -16)
    }

    @Test func q5_1() {
        let qh: [UInt8] = [0x02, 0x00, 0x00, 0x00]
        let qs = [UInt8](repeating: 0x01, count: 16)
        let y = decode(.q5_1, f16(1) + f16(0.5) + qh + qs, count: 32)
        #expect(y[0] == 1.5)
        #expect(y[1] == 17.5)
    }

    @Test func q4_KScalesAndMins() {
        // scales: sub-block 0 scale 2 min 1 (bytes 0 and 4), sub-block 1 scale 3 min 0.
        var scales = [UInt8](repeating: 0, count: 12)
        scales[0] = 2; scales[4] = 1; scales[1] = 3
        let qs = [UInt8](repeating: 0x21, count: 128)   // low nibble 1, high 2
        let y = decode(.q4_K, f16(1) + f16(0.5) + scales + qs, count: 256)
        #expect(y[0] == 2 * 1 - 0.5)      // d·sc1·q − dmin·m1
        #expect(y[32] == 3 * 2 - 0)       // second sub-block: high nibbles
        #expect(y[64] == 0)               // sub-blocks 2.. have scale 0, min 0
    }

    @Test func q5_KHighBits() {
        var scales = [UInt8](repeating: 0, count: 12)
        scales[0] = 1
        var qh = [UInt8](repeating: 0, count: 32)
        qh[0] = 1      // element 0 of chunk 0 gets +16
        let qs = [UInt8](repeating: 0x00, count: 128)
        let y = decode(.q5_K, f16(1) + f16(0) + scales + qh + qs, count: 256)
        #expect(y[0] == 16)
        #expect(y[1] == 0)
    }

    @Test func q6_KDIsLast() {
        let ql = [UInt8](repeating: 0x00, count: 128)
        let qh = [UInt8](repeating: 0x00, count: 64)
        let sc = [UInt8](repeating: 1, count: 16)
        let y = decode(.q6_K, ql + qh + sc + f16(0.5), count: 256)
        #expect(y.allSatisfy { $0 == -16 })    // (0 − 32) · 0.5 · 1
    }

    @Test func halfAndBrainFloat() {
        #expect(decode(.f16, f16(-2.5) + f16(65504), count: 2) == [-2.5, 65504])
        let bf16: [UInt8] = [0x80, 0x3F, 0x00, 0xC0]    // 1.0, −2.0
        #expect(decode(.bf16, bf16, count: 2) == [1, -2])
    }

    @Test func unsupportedTypeIsReported() {
        var out = [Float](repeating: 0, count: 256)
        let status = out.withUnsafeMutableBufferPointer { lr_dequantize_row(10, [UInt8](repeating: 0, count: 84), $0.baseAddress, 256) }
        #expect(status == -1)
    }
}
