import Foundation

/// Encodes and decodes ``Reply`` frames.
public enum ReplyCodec {
    /// Encodes a reply as one frame (no newline).
    public static func encode(_ reply: Reply) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // A reply holds only strings, integers, booleans and finite doubles: encoding cannot fail.
        return Array(try! encoder.encode(reply))
    }

    /// Decodes one frame into a reply.
    public static func decode(_ frame: some Collection<UInt8>) throws -> Reply {
        try JSONDecoder().decode(Reply.self, from: Data(frame))
    }
}
