extension ExitStatus {
    /// An output file (`compare --plot`) could not be written (EX_CANTCREAT).
    static let cannotCreate: Int32 = 73
}
