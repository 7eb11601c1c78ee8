import ConcFleet
import Testing

@Suite struct DatabaseURLTests {
    @Test func tcpURLWithEverything() throws {
        let url = try DatabaseURL("postgres://concd:secret@db.example.com:6543/fleet?sslmode=require")
        #expect(url.address == .tcp(host: "db.example.com", port: 6543))
        #expect(url.user == "concd")
        #expect(url.password == "secret")
        #expect(url.database == "fleet")
        #expect(url.tls == .require)
        #expect(url.description == "postgres://concd@db.example.com:6543/fleet")
        #expect(!url.description.contains("secret"))
    }

    @Test func defaultsPortAndTLSByWhereTheServerIs() throws {
        let remote = try DatabaseURL("postgresql://concd@db.example.com/fleet")
        #expect(remote.address == .tcp(host: "db.example.com", port: 5432))
        #expect(remote.password == nil)
        #expect(remote.tls == .prefer)
        let local = try DatabaseURL("postgres://concd@127.0.0.1/fleet")
        #expect(local.tls == .disable)
        let named = try DatabaseURL("postgres://concd@localhost:5433/fleet")
        #expect(named.tls == .disable)
        #expect(named.address == .tcp(host: "localhost", port: 5433))
    }

    @Test func unixSocketDirectory() throws {
        let url = try DatabaseURL("postgres://concd@localhost:7000/concd?host=/tmp/pg/socket")
        #expect(url.address == .unix(directory: "/tmp/pg/socket", port: 7000))
        #expect(url.tls == .disable)
        #expect(url.description == "postgres://concd@localhost/concd?host=/tmp/pg/socket&port=7000")
        #expect(url.clientConfiguration.unixSocketPath == "/tmp/pg/socket/.s.PGSQL.7000")
        #expect(url.clientConfiguration.options.connectTimeout == .seconds(5))
        let byParameter = try DatabaseURL("postgres://concd@/concd?host=/run/postgresql&port=5999")
        #expect(byParameter.address == .unix(directory: "/run/postgresql", port: 5999))
        // The description reads back as the same URL.
        #expect(try DatabaseURL(byParameter.description) == byParameter)
    }

    @Test func clientConfigurationForTCP() throws {
        let configuration = try DatabaseURL("postgres://concd:pw@db.example.com:6000/fleet").clientConfiguration
        #expect(configuration.host == "db.example.com")
        #expect(configuration.port == 6000)
        #expect(configuration.username == "concd")
        #expect(configuration.password == "pw")
        #expect(configuration.database == "fleet")
    }

    @Test(arguments: [
        ("http://concd@db/fleet", "must be a postgres:// URL"),
        ("db.example.com/fleet", "must be a postgres:// URL"),
        ("", "must be a postgres:// URL"),
        ("postgres://db.example.com/fleet", "names no role"),
        ("postgres://concd@db.example.com", "names no database"),
        ("postgres://concd@db.example.com/", "names no database"),
        ("postgres://concd@db.example.com/a/b", "names no database"),
        ("postgres://concd@db.example.com/fleet?port=abc", "port must be a number, got 'abc'"),
        ("postgres://concd@db.example.com:70000/fleet", "port must be 1...65535, got 70000"),
        ("postgres://concd@db.example.com/fleet?port=0", "port must be 1...65535, got 0"),
        ("postgres://concd@db.example.com/fleet?application_name=x", "does not know: 'application_name'"),
        (
            "postgres://concd@db.example.com/fleet?sslmode=verify-full",
            "sslmode must be disable, prefer or require, got 'verify-full'"
        ),
        ("postgres://concd@/fleet", "names no host"),
    ])
    func badURLsSaySo(text: String, says: String) {
        let error = #expect(throws: FleetError.self) { try DatabaseURL(text) }
        #expect(error?.code == .badConfiguration)
        #expect(error?.message.contains(says) == true, "\(text): \(error?.message ?? "accepted")")
        #expect(error?.description.hasSuffix("[bad_configuration]") == true)
    }

    @Test func aBadURLNeverEchoesItsPassword() {
        for text in [
            "postgres://concd:hunter2@db.example.com/fleet?sslmode=nope", "postgres://concd:hunter2@db.example.com",
        ] {
            do {
                _ = try DatabaseURL(text)
                Issue.record("\(text) was accepted")
            } catch {
                #expect(!error.message.contains("hunter2"))
            }
        }
    }
}

@Suite struct FleetSettingsTests {
    static let url = try! DatabaseURL("postgres://concd@localhost/concd")

    @Test func defaults() {
        let settings = FleetSettings(url: Self.url, hostName: "a", pools: [])
        #expect(settings.leaseSeconds == 10)
        #expect(settings.maxAttempts == 3)
        #expect(settings.prefetch == 0)
        #expect(settings.claimBatch == 256)
        #expect(FleetSettings.Limits.maxAttempts.contains(settings.maxAttempts))
        #expect(FleetSettings.Limits.leaseSeconds.contains(settings.leaseSeconds))
    }

    @Test func backoffDoublesFromTheFirstDelay() {
        let settings = FleetSettings(url: Self.url, hostName: "a", pools: [], backoffSeconds: 1, maxBackoffSeconds: 300)
        #expect(settings.backoff(afterAttempt: 1, random: 0) == 1)
        #expect(settings.backoff(afterAttempt: 2, random: 0) == 2)
        #expect(settings.backoff(afterAttempt: 3, random: 0) == 4)
        #expect(settings.backoff(afterAttempt: 8, random: 0) == 128)
        // Attempt 0 (nothing ran) is no sooner than the first delay.
        #expect(settings.backoff(afterAttempt: 0, random: 0) == 1)
        var previous = 0.0
        for attempt in 1...40 {
            let delay = settings.backoff(afterAttempt: attempt, random: 0)
            #expect(delay >= previous)
            previous = delay
        }
    }

    @Test func backoffIsCappedAndJitterAddsAtMostAQuarter() {
        let settings = FleetSettings(
            url: Self.url, hostName: "a", pools: [], backoffSeconds: 0.5, maxBackoffSeconds: 60)
        #expect(settings.backoff(afterAttempt: 9, random: 0) == 60)  // 0.5 × 256 = 128, capped
        #expect(settings.backoff(afterAttempt: 1_000_000, random: 0) == 60)
        #expect(settings.backoff(afterAttempt: Int.max, random: 0) == 60)
        #expect(settings.backoff(afterAttempt: 1, random: 1) == 0.625)
        #expect(settings.backoff(afterAttempt: 50, random: 0.999_999) < 75)
        for _ in 0..<100 {
            let delay = settings.backoff(afterAttempt: 3)
            #expect(delay >= 2 && delay < 2.5)
        }
    }

    @Test func zeroBackoffRetriesAtOnce() {
        let settings = FleetSettings(url: Self.url, hostName: "a", pools: [], backoffSeconds: 0)
        #expect(settings.backoff(afterAttempt: 5, random: 0.7) == 0)
    }
}
