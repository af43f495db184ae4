// Tests for labels.json: classes, instances, boxes, and located errors.
#include "semfield/data/labels.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/data/scene.h"
#include "support/test_support.h"
#include "unit/data/ring_scene.h"
#include "unit/data/scene_test_util.h"

namespace {

using namespace semfield;
using semfield::test::input_error_of;
using semfield::test::LogCapture;
using semfield::test::TempDir;
using semfield::test::write_text;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(Labels, ClassNameKeysIgnoreCaseSurroundingSpaceAndSeparators) {
  EXPECT_EQ(class_name_key("sphere"), "sphere");
  EXPECT_EQ(class_name_key("Sphere"), "sphere");
  EXPECT_EQ(class_name_key("  CYLINDER\t"), "cylinder");
  EXPECT_EQ(class_name_key("Coffee-Table"), "coffee_table");
  EXPECT_EQ(class_name_key("coffee  table"), "coffee_table");
  EXPECT_EQ(class_name_key("_coffee__table_"), "coffee_table");
  EXPECT_EQ(class_name_key("chair2"), "chair2");
  EXPECT_NE(class_name_key("spheres"), class_name_key("sphere"));  // no guessing beyond that
  EXPECT_EQ(class_name_key(""), "");
}

TEST(Labels, ReadsClassesAndInstances) {
  TempDir dir;
  write_text(dir / "labels.json", R"({
    "classes":   [{"id": 0, "name": "void"}, {"id": 1, "name": "ground"}, {"id": 2, "name": "sphere"}],
    "instances": [{"id": 1, "name": "ground", "class": "ground", "class_id": 1,
                   "bbox_min": [-1.4,-1.4,-0.05], "bbox_max": [1.4,1.4,0.0]},
                  {"id": 2, "class_id": 2}]})");
  const LabelSet labels = read_labels(dir / "labels.json");
  ASSERT_EQ(labels.classes.size(), 3u);
  EXPECT_EQ(labels.classes.at(1).name, "ground");
  EXPECT_EQ(labels.classes.at(1).class_id, 1);
  ASSERT_EQ(labels.instances.size(), 2u);
  const Label& ground = labels.instances.at(1);
  EXPECT_EQ(ground.class_name, "ground");
  ASSERT_TRUE(ground.bbox.has_value());
  EXPECT_EQ(ground.bbox->min(), Eigen::Vector3d(-1.4, -1.4, -0.05));
  const Label& second = labels.instances.at(2);
  EXPECT_EQ(second.name, "instance_2");
  EXPECT_EQ(second.class_name, "sphere");  // taken from the class list
  EXPECT_FALSE(second.bbox.has_value());
  write_text(dir / "only_instances.json", R"({"instances": [{"id": 4, "name": "x"}]})");
  const LabelSet only = read_labels(dir / "only_instances.json");
  EXPECT_TRUE(only.classes.empty());
  EXPECT_EQ(only.instances.at(4).class_id, -1);
}

TEST(Labels, AnInstanceOfAnUnlistedClassIsKeptWithoutAClassAndWarned) {
  TempDir dir;
  write_text(dir / "labels.json", R"({"classes": [{"id": 1, "name": "a"}],
    "instances": [{"id": 1, "class_id": 5}, {"id": 2, "class_id": 1}, {"id": 3, "class": "b", "class_id": 6}]})");
  LogCapture log;
  const LabelSet labels = read_labels(dir / "labels.json");
  EXPECT_THAT(log.text(), HasSubstr("labels.json: instances[0].class_id: class id 5 is not listed in \"classes\"; "
                                    "instance 1 is kept without a class id"));
  EXPECT_THAT(log.text(), Not(HasSubstr("instance 1 is kept without a class id (its")));
  EXPECT_THAT(log.text(), HasSubstr("instances[2].class_id: class id 6 is not listed in \"classes\"; instance 3 is "
                                    "kept without a class id (its \"class\" stays b)"));
  EXPECT_EQ(labels.instances.at(3).class_id, -1);
  EXPECT_EQ(labels.instances.at(3).class_name, "b");
  ASSERT_EQ(labels.classes.size(), 1u);
  ASSERT_EQ(labels.instances.size(), 3u);
  EXPECT_EQ(labels.instances.at(1).class_id, -1);
  EXPECT_EQ(labels.instances.at(1).class_name, "");
  EXPECT_EQ(labels.instances.at(2).class_name, "a");
}

TEST(Labels, ErrorsNameFileAndKeyPath) {
  TempDir dir;
  const auto error_for = [&](const std::string& text) {
    write_text(dir / "labels.json", text);
    return input_error_of([&] { read_labels(dir / "labels.json"); });
  };
  EXPECT_THAT(error_for(R"({"classes": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}]})"),
              HasSubstr("labels.json: classes[1].id: duplicate class id 1"));
  EXPECT_THAT(error_for(R"({"instances": [{"id": 1, "bbox_min": [0, 0, 0]}]})"),
              HasSubstr("labels.json: instances[0]: bbox_min and bbox_max must be given together"));
  EXPECT_THAT(error_for(R"({"instances": [{"id": 1, "bbox_min": [0, 0, 0], "bbox_max": [1, -1, 1]}]})"),
              HasSubstr("labels.json: instances[0].bbox_max: bbox_max must be >= bbox_min"));
  EXPECT_THAT(error_for(R"({"instances": [{"id": 1, "bbox_min": [0, 0], "bbox_max": [1, 1, 1]}]})"),
              HasSubstr("labels.json: instances[0].bbox_min: expected 3 numbers, got 2"));
  EXPECT_THAT(error_for(R"({"instances": [{"id": "one"}]})"),
              HasSubstr("labels.json: instances[0].id: expected a number, got string"));
  EXPECT_THAT(error_for(R"({"instances": [{"name": "x"}]})"), HasSubstr("labels.json: instances[0].id: missing required key"));
  EXPECT_THAT(error_for(R"({"classes": {"id": 1}})"), HasSubstr("labels.json: classes: expected an array"));
  EXPECT_THAT(error_for("{"), HasSubstr("labels.json: malformed JSON"));
}

TEST(Labels, ALabelsJsonInAnotherSchemaIsIgnoredWithAWarningUntilLabelsAreNeeded) {
  TempDir dir;
  test::RingScene ring;
  ring.spheres = {{Eigen::Vector3d::Zero(), 1.0}};
  ring.distance = 4.0;
  test::write_ring_scene(dir.path(), ring);
  // Many exported datasets carry a labels.json of their own (here: id -> name).
  write_text(dir / "labels.json", R"({"instances": {"1": "car", "2": "tree"}})");
  LogCapture log;
  const Scene scene = load_scene(dir.path());
  const std::string problem = (dir / "labels.json").string() + ": instances: expected an array, got object";
  EXPECT_EQ(scene.labels_error, problem);
  EXPECT_TRUE(scene.instance_labels.empty());
  EXPECT_EQ(scene.views.size(), 12u);  // RGB training goes on
  EXPECT_THAT(log.text(), HasSubstr(problem + "; ignoring labels.json: it is not in semfield's schema "
                                    "(docs/formats.md). RGB training is unaffected; the labels:instance and "
                                    "labels:semantic teachers will refuse the scene"));
  EXPECT_EQ(input_error_of([&] { scene.require_labels("labels:instance"); }),
            problem + " (labels:instance needs the scene's labels.json)");
  // Broken JSON is ignored the same way; a valid file, or none, is no problem.
  write_text(dir / "labels.json", "{");
  EXPECT_THAT(load_scene(dir.path()).labels_error, HasSubstr("labels.json: malformed JSON"));
  write_text(dir / "labels.json", R"({"classes": [{"id": 0, "name": "void"}]})");
  const Scene valid = load_scene(dir.path());
  EXPECT_EQ(valid.labels_error, "");
  EXPECT_NO_THROW(valid.require_labels("labels:semantic"));
  EXPECT_EQ(valid.semantic_labels.size(), 1u);
}

}  // namespace
