/// A list that holds its first element inline: most events of a pool produce at most one action of
/// each sort, and building an `Array` for it would allocate on every task.
package enum TinyList<Element>: Sequence {
    case empty
    case one(Element)
    case many([Element])

    /// Appends `element`; the second append moves both into an array.
    package mutating func append(_ element: Element) {
        switch self {
        case .empty: self = .one(element)
        case .one(let first): self = .many([first, element])
        case .many(var elements):
            self = .empty
            elements.append(element)
            self = .many(elements)
        }
    }

    /// How many elements it holds.
    package var count: Int {
        switch self {
        case .empty: return 0
        case .one: return 1
        case .many(let elements): return elements.count
        }
    }

    /// Whether it holds none.
    package var isEmpty: Bool { count == 0 }

    package func makeIterator() -> IndexingIterator<[Element]> {
        switch self {
        case .empty: return [].makeIterator()
        case .one(let element): return [element].makeIterator()
        case .many(let elements): return elements.makeIterator()
        }
    }

    /// Calls `body` on each element in order, without building an array for one element.
    @inline(__always)
    package func forEach(_ body: (Element) throws -> Void) rethrows {
        switch self {
        case .empty: return
        case .one(let element): try body(element)
        case .many(let elements): for element in elements { try body(element) }
        }
    }
}

extension TinyList: Sendable where Element: Sendable {}
