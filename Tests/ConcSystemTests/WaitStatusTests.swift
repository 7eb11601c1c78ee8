import ConcSystem
import Glibc
import Testing

@Suite struct WaitStatusTests {
    @Test func rawStatusesDecodeAsTheCMacrosDo() {
        #expect(WaitStatus(0) == .exited(0))
        #expect(WaitStatus(3 << 8) == .exited(3))
        #expect(WaitStatus(255 << 8) == .exited(255))
        #expect(WaitStatus(SIGKILL) == .killed(signal: SIGKILL))
        // A core dump sets bit 7; the signal is still the low 7 bits.
        #expect(WaitStatus(SIGSEGV | 0x80) == .killed(signal: SIGSEGV))
    }

    @Test func descriptionsAndShellStatusesReadAsAShellWouldShowThem() {
        #expect(WaitStatus.exited(3).description == "exited with status 3")
        #expect(WaitStatus.killed(signal: SIGKILL).description == "was killed by signal 9 (SIGKILL)")
        #expect(WaitStatus.killed(signal: 34).description == "was killed by signal 34 (signal 34)")
        #expect(WaitStatus.exited(3).shellStatus == 3)
        #expect(WaitStatus.killed(signal: SIGTERM).shellStatus == 128 + SIGTERM)
        #expect(Syscall.describeExit(2 << 8) == "exited with status 2")
    }

    @Test func aRealChildsExitAndDeathByASignalAreTold() throws {
        let exits = try SpawnRequest(executable: "/bin/sh", arguments: ["-c", "exit 7"]).spawn()
        #expect(WaitStatus.wait(for: exits) == .exited(7))

        let sleeper = try SpawnRequest(executable: "/bin/sleep", arguments: ["30"]).spawn()
        #expect(WaitStatus.poll(sleeper) == nil)
        kill(sleeper, SIGKILL)
        #expect(WaitStatus.wait(for: sleeper) == .killed(signal: SIGKILL))
        // Reaped already: there is nothing left to wait for.
        #expect(WaitStatus.wait(for: sleeper) == nil)
    }
}
