import CConcShims

/// The blocking HTTP GET of the classic comparison, done by libcurl's easy interface on the calling thread.
public enum BlockingHTTP {
    /// Loads and initialises libcurl if that has not happened yet; the first GET does it anyway.
    public static func globalInit() {
        _ = concd_curl_global_init()
    }

    /// GETs `url` and discards the body, giving up after `timeoutMilliseconds`.
    public static func get(_ url: String, timeoutMilliseconds: Int64) -> WorkerResult {
        var result = concd_http_result()
        concd_http_get(url, Int(max(1, timeoutMilliseconds)), &result)
        guard result.curl_code == 0 else {
            let message = withUnsafeBytes(of: result.error) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            // CURLE_OPERATION_TIMEDOUT
            let code = result.curl_code == 28 ? WorkerFailure.Code.timeout : WorkerFailure.Code.httpFailed
            return .failure(WorkerFailure(code: code, message: "GET \(url) failed: \(message)"))
        }
        return .success(.http(status: Int(result.status), bytes: result.body_bytes, timeMicroseconds: result.total_us))
    }
}
