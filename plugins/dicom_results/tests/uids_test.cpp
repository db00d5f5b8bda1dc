#include "uids.hpp"

#include <gtest/gtest.h>

#include <radpipe/testing.hpp>
#include <regex>

#include "findings.hpp"

namespace radpipe::dicom_results {
namespace {

const std::regex uid_syntax("(0|[1-9][0-9]*)(\\.(0|[1-9][0-9]*))*");

TEST(DerivedUids, AreValidUidsOfAtMost64Characters) {
  for (const std::string root : {"2.25", "1.2.826.0.1.3680043.10.543",
                                 "1.2.826.0.1.3680043.10.543.1234567.89012345" /* 43, the longest */}) {
    const std::string uid = derive_uid(root, {"radpipe", "report", "1.2.3"});
    EXPECT_LE(uid.size(), 64u) << uid;
    EXPECT_TRUE(std::regex_match(uid, uid_syntax)) << uid;
    EXPECT_TRUE(uid.starts_with(root + ".")) << uid;
    EXPECT_GE(uid.size() - root.size() - 1, 20u) << "too few derived digits in " << uid;
  }
}

TEST(DerivedUids, AreTheSameForTheSameInputsAndDifferOtherwise) {
  const std::string root = "1.2.826.0.1.3680043.10.543";
  EXPECT_EQ(derive_uid(root, {"a", "study", "sha"}), derive_uid(root, {"a", "study", "sha"}));
  EXPECT_NE(derive_uid(root, {"a", "study", "sha"}), derive_uid(root, {"a", "study", "sha2"}));
  EXPECT_NE(derive_uid(root, {"a", "study", "sha"}),
            derive_uid("1.2.826.0.1.3680043.10.544", {"a", "study", "sha"}));
  // Parts are length-prefixed: moving a character from one to the next changes the UID.
  EXPECT_NE(derive_uid(root, {"ab", "c"}), derive_uid(root, {"a", "bc"}));
}

TEST(DerivedUids, Under225AreVersion8Uuids) {
  const std::string uid = derive_uid("2.25", {"x"});
  ASSERT_TRUE(uid.starts_with("2.25."));
  unsigned __int128 value = 0;
  for (const char digit : uid.substr(5)) value = value * 10 + static_cast<unsigned>(digit - '0');
  EXPECT_EQ(static_cast<unsigned>((value >> 76) & 0xf), 8u) << "UUID version";
  EXPECT_EQ(static_cast<unsigned>((value >> 62) & 0x3), 2u) << "UUID variant";
}

TEST(DerivedUids, RefuseRootsThatAreNotUidRoots) {
  EXPECT_EQ(uid_root_problem("1.2.840.10008"), "");
  EXPECT_NE(uid_root_problem(""), "");
  EXPECT_NE(uid_root_problem("1..2"), "");
  EXPECT_NE(uid_root_problem("1.2."), "");
  EXPECT_NE(uid_root_problem("1.02"), "");
  EXPECT_NE(uid_root_problem("1.2a"), "");
  EXPECT_NE(uid_root_problem(std::string(44, '1')), "");
  EXPECT_THROW(derive_uid("1..2", {"x"}), std::invalid_argument);
}

TEST(ResultUidsOf, ChangeWithTheStudyAndTheCheckpointButNotOtherwise) {
  const auto a = ResultUids::of("2.25", "1.2.3", "aa");
  const auto again = ResultUids::of("2.25", "1.2.3", "aa");
  const auto other_study = ResultUids::of("2.25", "1.2.4", "aa");
  const auto other_model = ResultUids::of("2.25", "1.2.3", "bb");
  EXPECT_EQ(a.report_instance, again.report_instance);
  EXPECT_EQ(a.capture_series, again.capture_series);
  EXPECT_NE(a.report_instance, other_study.report_instance);
  EXPECT_NE(a.report_instance, other_model.report_instance);
  EXPECT_NE(a.report_series, a.capture_series);
  EXPECT_NE(a.report_series, a.report_instance);
  EXPECT_EQ(a.device_observer, other_study.device_observer) << "the model is one device across studies";
  EXPECT_NE(ResultUids::capture_instance("2.25", "1.2.3", "aa", "9.1"),
            ResultUids::capture_instance("2.25", "1.2.3", "aa", "9.2"));
}

TEST(Sha256, OfKnownTextAndOfAFile) {
  EXPECT_EQ(sha256_of("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  radpipe::testing::TempFolder folder;
  EXPECT_EQ(sha256_of_file(folder.write("abc.txt", "abc")), sha256_of("abc"));
  EXPECT_THROW(sha256_of_file(folder.path() / "missing"), std::runtime_error);
}

} // namespace
} // namespace radpipe::dicom_results
