/// Why data from outside could not be read: each case says what was wrong and where.
public struct DataError: Error, CustomStringConvertible, Equatable {
    /// The message, naming the file (and line and column, or byte offset) at fault.
    public let description: String
    /// A data error with a message.
    public init(_ description: String) { self.description = description }
}
