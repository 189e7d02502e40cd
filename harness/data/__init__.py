"""Test data: databases per schema, TestDataManager, Kafka topics, the running test's context, seeding."""

from harness.data.manager import TestDataManager, TrackedRow
from harness.data.messages import Message
from harness.data.topics import TopicManager

__all__ = ["Message", "TestDataManager", "TopicManager", "TrackedRow"]
