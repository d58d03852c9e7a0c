import XCTest
import _AxonKernels
@testable import AxonCore

/// The machine description and measurements axon-bench reports (values only checked for sense: timings are not
/// asserted in tests).
final class MachineTests: XCTestCase {
    func testFMAPeakIsAPositiveRate() {
        let peak = Machine.measureFMAPeak(threads: 1, seconds: 0.01)
        XCTAssertTrue(peak.isFinite && peak > 0, "\(peak)")
        XCTAssertTrue([4, 8, 16].contains(Machine.vectorLanes))
    }

    /// A round trip between two threads through one cache line: a positive time where the process may run on several
    /// CPUs, nil where it may run on one (pinned: `taskset -c 0`); no trips is not a measurement.
    func testCoreRoundTripIsATimeWhenThereAreTwoCPUs() {
        let trip = Machine.measureCoreRoundTrip(trips: 1000)
        XCTAssertGreaterThanOrEqual(axon_cpus_allowed(), 1)
        if Threading.cpuCount > 1 && axon_cpus_allowed() > 1 {
            XCTAssertNotNil(trip)
            if let trip { XCTAssertTrue(trip.isFinite && trip > 0, "\(trip)") }
        } else {
            XCTAssertNil(trip)
        }
        XCTAssertEqual(axon_core_round_trip_ns(0), -1)
    }
}
