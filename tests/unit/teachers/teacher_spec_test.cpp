// Teacher specs: parsing, the exact text round trip that stored configs rely on, and the errors for bad specs.
#include "semfield/teachers/teacher_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"
#include "semfield/teachers/teacher.h"
#include "teacher_test_util.h"

namespace semfield {
namespace {

using ::testing::HasSubstr;
using test::error_of;

TEST(TeacherSpec, ParsesEveryKind) {
  struct Case {
    const char* text;
    TeacherKind kind;
    const char* arg;
  };
  const Case cases[] = {
      {"descriptor", TeacherKind::Descriptor, ""},
      {"labels:semantic", TeacherKind::Labels, "semantic"},
      {"labels:instance", TeacherKind::Labels, "instance"},
      {"labels:/data/my labels/", TeacherKind::Labels, "/data/my labels/"},
      {"files:maps", TeacherKind::Files, "maps"},
      {"sam:weights/sam_vit_b.pth", TeacherKind::Sam, "weights/sam_vit_b.pth"},
      {"clip:/models/clip", TeacherKind::Clip, "/models/clip"},
      {"dino:dino_weights.safetensors", TeacherKind::Dino, "dino_weights.safetensors"},
      // Split at the first colon only: the argument may hold more.
      {"files:C:/maps", TeacherKind::Files, "C:/maps"},
      {"sam::", TeacherKind::Sam, ":"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.text);
    const TeacherSpec spec = TeacherSpec::parse(c.text);
    EXPECT_EQ(spec.kind, c.kind);
    EXPECT_EQ(spec.arg, c.arg);
    // The text stored in configs and run folders comes back exactly, and so does the spec.
    EXPECT_EQ(spec.to_string(), c.text);
    EXPECT_EQ(TeacherSpec::parse(spec.to_string()), spec);
  }
}

TEST(TeacherSpec, KindNamesAndFoundationModels) {
  EXPECT_STREQ(teacher_kind_name(TeacherKind::Labels), "labels");
  EXPECT_STREQ(teacher_kind_name(TeacherKind::Files), "files");
  EXPECT_STREQ(teacher_kind_name(TeacherKind::Descriptor), "descriptor");
  EXPECT_STREQ(teacher_kind_name(TeacherKind::Sam), "sam");
  EXPECT_STREQ(teacher_kind_name(TeacherKind::Clip), "clip");
  EXPECT_STREQ(teacher_kind_name(TeacherKind::Dino), "dino");
  EXPECT_STREQ(teacher_kind_name(TeacherKind::Sclip), "sclip");
  EXPECT_TRUE(TeacherSpec::parse("clip:x").is_foundation_model());
  EXPECT_TRUE(TeacherSpec::parse("sclip:x").is_foundation_model());
  EXPECT_TRUE(TeacherSpec::parse("sclip:x").is_clip());
  EXPECT_TRUE(TeacherSpec::parse("clip:x").is_clip());
  EXPECT_FALSE(TeacherSpec::parse("dino:x").is_clip());
  EXPECT_TRUE(TeacherSpec::parse("dino:x").is_foundation_model());
  EXPECT_TRUE(TeacherSpec::parse("sam:x").is_foundation_model());
  EXPECT_FALSE(TeacherSpec::parse("files:x").is_foundation_model());
  EXPECT_FALSE(TeacherSpec::parse("labels:semantic").is_foundation_model());
  EXPECT_FALSE(TeacherSpec::parse("descriptor").is_foundation_model());
  const TeacherSpec made{TeacherKind::Labels, "instance"};
  EXPECT_EQ(made.to_string(), "labels:instance");
  EXPECT_NE(made, TeacherSpec::parse("labels:semantic"));
}

TEST(TeacherSpec, BadSpecsNameTheTextAndWhatIsValid) {
  EXPECT_EQ(error_of([] { TeacherSpec::parse("mae:x"); }),
            "unknown teacher 'mae:x'; valid: descriptor, labels:semantic, labels:instance, labels:DIR, files:DIR, "
            "sam:PATH, clip:PATH, sclip:PATH, dino:PATH");
  EXPECT_THAT(error_of([] { TeacherSpec::parse(""); }), HasSubstr("unknown teacher ''"));
  EXPECT_THAT(error_of([] { TeacherSpec::parse("Descriptor"); }), HasSubstr("unknown teacher 'Descriptor'"));
  EXPECT_EQ(error_of([] { TeacherSpec::parse("files"); }), "teacher 'files' needs a path: files:PATH");
  EXPECT_EQ(error_of([] { TeacherSpec::parse("sam:"); }), "teacher 'sam:' needs a path: sam:PATH");
  EXPECT_THAT(error_of([] { TeacherSpec::parse("clip"); }), HasSubstr("clip:PATH"));
  EXPECT_THAT(error_of([] { TeacherSpec::parse("dino:"); }), HasSubstr("dino:PATH"));
  EXPECT_EQ(error_of([] { TeacherSpec::parse("labels"); }),
            "teacher 'labels': expected labels:semantic, labels:instance or labels:DIR");
  EXPECT_THAT(error_of([] { TeacherSpec::parse("labels:"); }), HasSubstr("expected labels:semantic"));
  EXPECT_EQ(error_of([] { TeacherSpec::parse("descriptor:fast"); }),
            "teacher 'descriptor' takes no argument, got 'descriptor:fast'");
  // "descriptor:" would not round-trip, so it is refused too.
  EXPECT_THAT(error_of([] { TeacherSpec::parse("descriptor:"); }), HasSubstr("takes no argument"));
  EXPECT_THROW(TeacherSpec::parse("bogus"), UsageError);
}

TEST(TeacherSpec, OnlyFoundationModelsAreMadeWithoutAScene) {
  EXPECT_EQ(error_of([] { make_foundation_teacher(TeacherSpec::parse("files:maps")); }),
            "teacher 'files:maps' is not a foundation model (sam:PATH, clip:PATH, sclip:PATH or dino:PATH)");
  EXPECT_THAT(error_of([] { make_foundation_teacher(TeacherSpec::parse("descriptor")); }),
              HasSubstr("is not a foundation model"));
}

}  // namespace
}  // namespace semfield
