// Stands in for radpipe-dicom-decoder meeting a file on which GDCM aborts: it says what an
// assertion says and dies of SIGABRT, as a failed assert() does.
#include <cstdio>
#include <cstdlib>

int main() {
  std::fputs("gdcmJPEG2000Codec.cxx:123: Assertion `len > 0' failed.\n", stderr);
  std::abort();
}
