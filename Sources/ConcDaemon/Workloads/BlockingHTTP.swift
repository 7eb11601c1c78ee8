import CConcShims
import ConcProtocol

/// The blocking HTTP GET of the classic comparison, done by libcurl's easy interface on the calling thread.
package enum BlockingHTTP {
    /// Loads and initialises libcurl if that has not happened yet; the first GET does it anyway.
    package static func globalInit() {
        _ = concd_curl_global_init()
    }

    /// GETs `url` and discards the body, giving up after `timeoutMilliseconds`.
    package static func get(_ url: String, timeoutMilliseconds: Int64) -> Result<TaskValue, WireError> {
        var result = concd_http_result()
        concd_http_get(url, Int(max(1, timeoutMilliseconds)), &result)
        guard result.curl_code == 0 else {
            let message = withUnsafeBytes(of: result.error) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            // CURLE_OPERATION_TIMEDOUT
            let code: ErrorCode = result.curl_code == 28 ? .timeout : .httpFailed
            return .failure(WireError(code, "GET \(url) failed: \(message)"))
        }
        return .success(
            .http(HTTPSummary(status: Int(result.status), bytes: result.body_bytes, timeMicroseconds: result.total_us))
        )
    }
}
