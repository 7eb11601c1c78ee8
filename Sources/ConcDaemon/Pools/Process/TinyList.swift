/// A list that holds its first element inline: most events of a pool produce at most one action of
/// each sort, and building an `Array` for it would allocate on every task.
///
/// A struct of an optional and an array rather than an enum of cases: appending to an enum has to
/// take its payload out and put it back, which copied the element (an outlined copy of a whole
/// send, with its retains) several times per task.
package struct TinyList<Element> {
    private var first: Element?
    /// Everything after the first element; empty (and unallocated) in the common case.
    private var rest: [Element] = []

    package init() {}

    /// Appends `element`.
    package mutating func append(_ element: Element) {
        if case .none = first {
            first = element
        } else {
            rest.append(element)
        }
    }

    /// How many elements it holds.
    package var count: Int {
        first == nil ? 0 : 1 + rest.count
    }

    /// Whether it holds none.
    package var isEmpty: Bool { first == nil }

    /// Calls `body` on each element in order.
    @inline(__always)
    package func forEach(_ body: (Element) throws -> Void) rethrows {
        guard let first else { return }
        try body(first)
        for element in rest { try body(element) }
    }

    /// The elements as an array (for tests and reports, not the hot path).
    package var elements: [Element] {
        guard let first else { return [] }
        return [first] + rest
    }
}

extension TinyList: Sendable where Element: Sendable {}

extension TinyList: Sequence {
    package func makeIterator() -> IndexingIterator<[Element]> {
        elements.makeIterator()
    }
}
