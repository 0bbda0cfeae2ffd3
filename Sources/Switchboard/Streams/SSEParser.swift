/// A Server-Sent Events stream read as the WHATWG HTML standard's event-stream interpretation
/// says (§9.2.6): lines end in CRLF, LF or CR; a line starting with `:` is a comment; `field:
/// value` loses one space after the colon; `data` lines join with LF; `id` sets the last event
/// id (unless it holds NUL), which stays for the events after it (`lastEventID`: where to
/// resume from); `retry` takes ASCII digits only;
/// a blank line dispatches the event (none when it has no data); an unknown field is ignored.
///
/// Bytes go in as they arrive, in chunks of any size (a line, or a UTF-8 character, may be
/// split between two); what they complete comes out. `SwitchboardClient` reads the `sse`
/// endpoint with it, and so do the project's tests.
///
/// Written here: mattt/EventSource, the package the mirror has, parses the same way but its
/// client does not build on Linux (`URLSession.bytes` is missing from FoundationNetworking), and
/// the parser is not a product of its own.
///
/// A line longer than `maxLineBytes`, or an event whose data grows past `maxEventBytes`, is
/// dropped (counted in `dropped`) instead of growing without bound: the stream's source is
/// outside input.
public struct SSEParser: Sendable {
    /// One event.
    public struct Event: Sendable, Equatable {
        /// The event's type (`event:`; `message` when none was given).
        public var event: String
        /// Its data (`data:` lines joined by LF).
        public var data: String
        /// The `id:` this event carried (nil when it had none; `SSEParser.lastEventID` keeps
        /// the stream's last one).
        public var id: String?

        public init(event: String = "message", data: String, id: String? = nil) {
            self.event = event
            self.data = data
            self.id = id
        }
    }

    /// What a chunk completed, in order.
    public enum Item: Sendable, Equatable {
        case event(Event)
        /// A comment line, without its colon (`: ping` gives `" ping"`).
        case comment(String)
        /// A `retry:` reconnection time in milliseconds.
        case retry(Int)
    }

    public let maxLineBytes: Int
    public let maxEventBytes: Int
    /// Lines and events dropped for their size.
    public private(set) var dropped = 0
    /// The last event id the stream set.
    public private(set) var lastEventID: String?

    private var line: [UInt8] = []
    private var overlong = false
    private var afterCR = false
    private var sawBOM = false
    private var eventType = ""
    private var data: [UInt8] = []
    private var hasData = false
    private var tooBig = false
    private var eventID: String?

    public init(maxLineBytes: Int = 1 << 20, maxEventBytes: Int = 1 << 24) {
        self.maxLineBytes = maxLineBytes
        self.maxEventBytes = maxEventBytes
    }

    /// Reads `bytes`; returns what they complete.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [Item] {
        var items: [Item] = []
        for byte in bytes {
            if afterCR {
                afterCR = false
                if byte == 0x0A { continue }   // CRLF: the CR ended the line
            }
            switch byte {
            case 0x0D:
                afterCR = true
                endLine(into: &items)
            case 0x0A:
                endLine(into: &items)
            default:
                if line.count < maxLineBytes { line.append(byte) } else { overlong = true }
            }
        }
        return items
    }

    /// The stream ended: an event not yet dispatched by a blank line is dropped (as the
    /// standard says); a last unterminated line is discarded with it.
    public mutating func finish() {
        line = []
        overlong = false
        resetEvent()
    }

    private mutating func endLine(into items: inout [Item]) {
        defer { line.removeAll(keepingCapacity: true) }
        // A byte-order mark may start the stream, once.
        if !sawBOM {
            sawBOM = true
            if line.starts(with: [0xEF, 0xBB, 0xBF]) { line.removeFirst(3) }
        }
        if overlong {
            overlong = false
            dropped += 1
            return
        }
        if line.isEmpty { return dispatch(into: &items) }
        if line[0] == UInt8(ascii: ":") {
            items.append(.comment(String(decoding: line.dropFirst(), as: UTF8.self)))
            return
        }
        let colon = line.firstIndex(of: UInt8(ascii: ":"))
        let field = colon.map { line[..<$0] } ?? line[...]
        var value = colon.map { line[line.index(after: $0)...] } ?? []
        if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
        switch String(decoding: field, as: UTF8.self) {
        case "event":
            eventType = String(decoding: value, as: UTF8.self)
        case "data":
            let separator = hasData ? 1 : 0
            hasData = true
            if tooBig || data.count + separator + value.count > maxEventBytes {
                tooBig = true
                data.removeAll()
            } else {
                if separator == 1 { data.append(0x0A) }
                data.append(contentsOf: value)
            }
        case "id":
            if !value.contains(0) {
                lastEventID = String(decoding: value, as: UTF8.self)
                eventID = lastEventID
            }
        case "retry":
            if !value.isEmpty, value.count <= 9, value.allSatisfy({ (0x30...0x39).contains($0) }) {
                items.append(.retry(value.reduce(0) { $0 * 10 + Int($1 - 0x30) }))
            }
        default:
            break
        }
    }

    private mutating func dispatch(into items: inout [Item]) {
        defer { resetEvent() }
        if tooBig {
            dropped += 1
            return
        }
        guard hasData else { return }
        items.append(.event(Event(event: eventType.isEmpty ? "message" : eventType,
                                  data: String(decoding: data, as: UTF8.self), id: eventID)))
    }

    private mutating func resetEvent() {
        eventType = ""
        data.removeAll(keepingCapacity: true)
        hasData = false
        tooBig = false
        eventID = nil
    }
}
