// MPI's C API for Swift (the MPI trait: `swift build --traits MPI`). MPI's handles are macros that Swift cannot
// import (Open MPI's MPI_COMM_WORLD is the address of a global cast to a handle), so each one used is a function.
#include <mpi.h>

static inline MPI_Comm axon_mpi_comm_world(void) { return MPI_COMM_WORLD; }
static inline MPI_Datatype axon_mpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype axon_mpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype axon_mpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype axon_mpi_byte(void) { return MPI_BYTE; }
static inline MPI_Op axon_mpi_sum(void) { return MPI_SUM; }
static inline void *axon_mpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Errhandler axon_mpi_errors_return(void) { return MPI_ERRORS_RETURN; }
static inline MPI_Request axon_mpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *axon_mpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
